package hooks

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/failoverhq/failover/internal/config"
)

const awsSecretKey = "fakeSecretAccessKeyThatMustNotLeak"

// asgRunner is a Runner with one aws_autoscaling hook named "scale-origin"
// on the group, talking to the fake through the real SDK.
func asgRunner(t *testing.T, f *asgFake, group string, desired, minInService int, timeout time.Duration) *Runner {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	r, err := New(Options{
		Hooks: []config.Hook{{Name: "scale-origin", Type: config.HookAWSAutoscaling, Group: group, Region: "us-east-1",
			Endpoint: f.srv.URL, DesiredCapacity: desired, MinInService: minInService, Timeout: timeout}},
		AWSConfig: func(_ context.Context, region string) (aws.Config, error) {
			return aws.Config{
				Region:      region,
				Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", awsSecretKey, ""),
				HTTPClient:  &http.Client{Transport: tr},
			}, nil
		},
		PollInterval: 10 * time.Millisecond,
		Logger:       quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAutoscalingScalesAndWaits(t *testing.T) {
	f := newASGFake(t, 3)
	f.addGroup("origin-asg", 2, 10)
	r := asgRunner(t, f, "origin-asg", 4, 0, 10*time.Second)
	res := r.Run(context.Background(), []string{"scale-origin"}, testEvent())[0]
	if !res.OK || res.Type != config.HookAWSAutoscaling || res.Attempts != 1 {
		t.Fatalf("result %+v", res)
	}
	if !strings.HasPrefix(res.Output, "desired capacity 4 (was 2); 4 of 4 instances InService and Healthy") {
		t.Errorf("output %q", res.Output)
	}
	sets := f.callsOf("SetDesiredCapacity")
	if len(sets) != 1 {
		t.Fatalf("%d SetDesiredCapacity calls, want 1", len(sets))
	}
	form := sets[0].form
	if form["AutoScalingGroupName"] != "origin-asg" || form["DesiredCapacity"] != "4" || form["HonorCooldown"] != "false" || form["Version"] != "2011-01-01" {
		t.Errorf("SetDesiredCapacity form %v", form)
	}
	// New instances need 3 describes to come into service, after the one
	// that read the group before scaling.
	if n := len(f.callsOf("DescribeAutoScalingGroups")); n != 1+3+1 {
		t.Errorf("%d describes, want 5: one before scaling, then until the new instances are in service", n)
	}
	if strings.Contains(res.Output+res.Error, awsSecretKey) {
		t.Error("the AWS secret key leaked into the result")
	}
}

func TestAutoscalingMinInService(t *testing.T) {
	for _, tt := range []struct {
		name         string
		minInService int
		wantOK       bool
	}{
		{"two of three are enough", 2, true},
		{"the default is all of them", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newASGFake(t, 2)
			f.addGroup("origin-asg", 1, 10)
			f.neverUp = 1 // one of the two new instances never comes up
			r := asgRunner(t, f, "origin-asg", 3, tt.minInService, 500*time.Millisecond)
			res := r.Run(context.Background(), []string{"scale-origin"}, testEvent())[0]
			if res.OK != tt.wantOK {
				t.Errorf("result %+v, want ok %v", res, tt.wantOK)
			}
		})
	}
}

func TestAutoscalingNeverLowers(t *testing.T) {
	f := newASGFake(t, 0)
	f.addGroup("origin-asg", 6, 10)
	r := asgRunner(t, f, "origin-asg", 4, 0, 10*time.Second)
	res := r.Run(context.Background(), []string{"scale-origin"}, testEvent())[0]
	if !res.OK || !strings.HasPrefix(res.Output, "desired capacity already 6 (at least 4)") {
		t.Errorf("result %+v", res)
	}
	if n := len(f.callsOf("SetDesiredCapacity")); n != 0 {
		t.Errorf("%d SetDesiredCapacity calls on a group already larger, want 0", n)
	}
}

func TestAutoscalingErrors(t *testing.T) {
	t.Run("unknown group", func(t *testing.T) {
		f := newASGFake(t, 0)
		r := asgRunner(t, f, "no-such-asg", 4, 0, 10*time.Second)
		res := r.Run(context.Background(), []string{"scale-origin"}, testEvent())[0]
		if res.OK || res.Error != "autoscaling: group no-such-asg not found" || res.Timeout {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("above the group's maximum", func(t *testing.T) {
		f := newASGFake(t, 0)
		f.addGroup("origin-asg", 2, 10)
		r := asgRunner(t, f, "origin-asg", 20, 0, 10*time.Second)
		res := r.Run(context.Background(), []string{"scale-origin"}, testEvent())[0]
		want := "autoscaling: set desired capacity of origin-asg to 20: ValidationError: New SetDesiredCapacity value 20 is above max value 10 for the AutoScalingGroup."
		if res.OK || res.Error != want {
			t.Errorf("error %q, want %q", res.Error, want)
		}
	})
	t.Run("ValidationError from the API is permanent", func(t *testing.T) {
		f := newASGFake(t, 0)
		r := asgRunner(t, f, "origin-asg", 2, 0, 10*time.Second)
		api := r.hooks["scale-origin"].impl.(*autoscalingHook).api
		_, err := api.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{
			AutoScalingGroupName: aws.String("ghost"), DesiredCapacity: aws.Int32(2)})
		if err == nil || !permanent(err) ||
			apiError(err) != "ValidationError: AutoScalingGroup name not found - AutoScalingGroup ghost not found" {
			t.Errorf("err %v (permanent %v), want a permanent ValidationError", err, err != nil && permanent(err))
		}
	})
	t.Run("a server error while polling is retried", func(t *testing.T) {
		f := newASGFake(t, 1)
		f.addGroup("origin-asg", 1, 10)
		f.failAfterSet = 2
		r := asgRunner(t, f, "origin-asg", 2, 0, 10*time.Second)
		res := r.Run(context.Background(), []string{"scale-origin"}, testEvent())[0]
		if !res.OK {
			t.Errorf("result %+v", res)
		}
		// One before scaling, two 500s, one with the instance pending,
		// one with it in service.
		if n := len(f.callsOf("DescribeAutoScalingGroups")); n != 5 {
			t.Errorf("%d describes, want 5", n)
		}
	})
	t.Run("instances that never come up", func(t *testing.T) {
		f := newASGFake(t, 1_000_000)
		f.addGroup("origin-asg", 2, 10)
		const timeout = 300 * time.Millisecond
		r := asgRunner(t, f, "origin-asg", 4, 0, timeout)
		start := time.Now()
		res := r.Run(context.Background(), []string{"scale-origin"}, testEvent())[0]
		if elapsed := time.Since(start); elapsed > timeout+2*time.Second {
			t.Errorf("took %s with a timeout of %s", elapsed, timeout)
		}
		if res.OK || !res.Timeout || !strings.Contains(res.Error, "2 of 4 instances InService and Healthy when the time ran out") {
			t.Errorf("result %+v", res)
		}
	})
}
