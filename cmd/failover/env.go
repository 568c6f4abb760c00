package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// envFlags are the flags that take a FAILOVER_* variable. Only these: a
// stray FAILOVER_FORCE or FAILOVER_TO in an environment must never change what
// a drill does.
var envFlags = map[string]bool{"server": true, "token-file": true, "config": true, "data": true}

// bindEnv gives the flags of envFlags an environment variable through viper:
// --server is FAILOVER_SERVER, --token-file is FAILOVER_TOKEN_FILE, --config
// is FAILOVER_CONFIG, --data (the lab's) FAILOVER_DATA. A flag given on the
// command line wins over the variable. (The config file's own FAILOVER_SECTION_KEY overrides are applied
// by internal/config, which needs them with field paths.)
func bindEnv(cmd *cobra.Command) error {
	v := viper.New()
	v.SetEnvPrefix("FAILOVER")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || !envFlags[f.Name] {
			return
		}
		env := "FAILOVER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if e := v.BindEnv(f.Name, env); e != nil {
			err = e
			return
		}
		if !v.IsSet(f.Name) {
			return
		}
		val := v.GetString(f.Name)
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			// Lists are comma-separated, as on the command line.
			if e := sv.Replace(strings.Split(val, ",")); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
			return
		}
		if e := f.Value.Set(val); e != nil {
			err = fmt.Errorf("%s: %w", env, e)
		}
	})
	return err
}
