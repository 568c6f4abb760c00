package hooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"
)

// DefaultPollInterval is how often an aws_autoscaling hook looks at its
// group while it waits for instances.
const DefaultPollInterval = 5 * time.Second

// autoscalingAPI is the part of the Auto Scaling client the hook uses.
type autoscalingAPI interface {
	DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	SetDesiredCapacity(context.Context, *autoscaling.SetDesiredCapacityInput, ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
}

var _ autoscalingAPI = (*autoscaling.Client)(nil)

// autoscalingHook raises an Auto Scaling group to a desired capacity and
// waits until enough of its instances are in service.
type autoscalingHook struct {
	group        string
	desired      int32
	minInService int32
	poll         time.Duration
	api          autoscalingAPI
}

func newAutoscaling(group string, desired, minInService int, region, endpoint string, retries int, o *Options) (*autoscalingHook, error) {
	if group == "" || desired < 1 {
		return nil, errors.New("group and desired_capacity are required")
	}
	if minInService <= 0 {
		minInService = desired
	}
	if minInService > desired {
		return nil, fmt.Errorf("min_in_service %d is more than desired_capacity %d", minInService, desired)
	}
	load := o.AWSConfig
	if load == nil {
		load = loadAWSConfig
	}
	cfg, err := load(context.Background(), region)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	api := autoscaling.NewFromConfig(cfg, func(ao *autoscaling.Options) {
		ao.Region = region
		if endpoint != "" {
			ao.BaseEndpoint = aws.String(endpoint)
		}
		ao.RetryMaxAttempts = retries + 1
	})
	poll := o.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	return &autoscalingHook{
		group:        group,
		desired:      int32(desired),
		minInService: int32(minInService),
		poll:         poll,
		api:          api,
	}, nil
}

// loadAWSConfig is the SDK's default configuration chain (environment,
// shared files, instance role) for region.
func loadAWSConfig(ctx context.Context, region string) (aws.Config, error) {
	return awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
}

// run reads the group, raises its desired capacity to the configured one
// if it is lower (SetDesiredCapacity, not honouring the cooldown), then
// polls until at least min_in_service instances are InService and Healthy.
// It never lowers the capacity: a group that is already larger (scaled by
// hand, or by its own policies in the incident) is left as it is, since
// scaling in while traffic moves onto it would defeat the hook. A client
// error (an unknown group, a capacity above the group's maximum, denied
// access) ends the run; other errors while polling are retried at the next
// poll, until the hook's timeout.
func (a *autoscalingHook) run(ctx context.Context, _ Event, _ []byte, res *Result) {
	res.Attempts = 1
	g, err := a.describe(ctx)
	for err != nil && !permanent(err) && sleep(ctx, a.poll) {
		g, err = a.describe(ctx)
	}
	if err != nil {
		res.Error = err.Error()
		return
	}
	was := aws.ToInt32(g.DesiredCapacity)
	action := fmt.Sprintf("desired capacity already %d (at least %d)", was, a.desired)
	if was < a.desired {
		err := a.setDesired(ctx)
		for err != nil && !permanent(err) && sleep(ctx, a.poll) {
			err = a.setDesired(ctx)
		}
		if err != nil {
			res.Error = fmt.Sprintf("autoscaling: set desired capacity of %s to %d: %s", a.group, a.desired, apiError(err))
			return
		}
		action = fmt.Sprintf("desired capacity %d (was %d)", a.desired, was)
	}
	for polls := 1; ; polls++ {
		ready := inService(g)
		res.Output = fmt.Sprintf("%s; %d of %d instances InService and Healthy, after %d polls", action, ready, a.minInService, polls)
		if ready >= a.minInService {
			res.OK = true
			return
		}
		if !sleep(ctx, a.poll) {
			res.Error = fmt.Sprintf("autoscaling: %s: %d of %d instances InService and Healthy when the time ran out", a.group, ready, a.minInService)
			return
		}
		next, err := a.describe(ctx)
		switch {
		case err == nil:
			g = next
		case permanent(err):
			res.Error = err.Error()
			return
		}
	}
}

// setDesired sets the group's desired capacity, whatever its cooldown.
func (a *autoscalingHook) setDesired(ctx context.Context) error {
	_, err := a.api.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(a.group),
		DesiredCapacity:      aws.Int32(a.desired),
		HonorCooldown:        aws.Bool(false),
	})
	return err
}

// describe returns the group, or an error if it does not exist.
func (a *autoscalingHook) describe(ctx context.Context) (*types.AutoScalingGroup, error) {
	out, err := a.api.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{a.group},
	})
	if err != nil {
		return nil, &describeError{group: a.group, err: err}
	}
	for i := range out.AutoScalingGroups {
		if g := &out.AutoScalingGroups[i]; aws.ToString(g.AutoScalingGroupName) == a.group {
			return g, nil
		}
	}
	return nil, &describeError{group: a.group, notFound: true}
}

// describeError is a failed DescribeAutoScalingGroups, or a group that is
// not there.
type describeError struct {
	group    string
	notFound bool
	err      error
}

func (e *describeError) Error() string {
	if e.notFound {
		return fmt.Sprintf("autoscaling: group %s not found", e.group)
	}
	return fmt.Sprintf("autoscaling: describe %s: %s", e.group, apiError(e.err))
}

func (e *describeError) Unwrap() error { return e.err }

// permanent reports whether an error will not go away by asking again: a
// missing group, or a client error (validation, access) other than
// throttling and the conflicts that pass (a scaling activity in progress).
func permanent(err error) bool {
	var de *describeError
	if errors.As(err, &de) && de.notFound {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "Throttling", "ThrottlingException", "RequestLimitExceeded",
			"ScalingActivityInProgress", "ResourceContention":
			return false
		}
		if ae.ErrorFault() == smithy.FaultClient {
			return true
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		code := re.HTTPStatusCode()
		return code >= 400 && code < 500 && code != http.StatusTooManyRequests && code != http.StatusRequestTimeout
	}
	return false
}

// apiError is an AWS error as "Code: message", without the request
// metadata.
func apiError(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}

// inService counts the group's instances that are InService and Healthy.
func inService(g *types.AutoScalingGroup) int32 {
	var n int32
	for _, i := range g.Instances {
		if i.LifecycleState == types.LifecycleStateInService && aws.ToString(i.HealthStatus) == "Healthy" {
			n++
		}
	}
	return n
}
