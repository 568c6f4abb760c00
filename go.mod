module github.com/failoverhq/failover

go 1.26.0
