package main_test

import (
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"strings"
	"testing"
	"time"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// TestMetrics_ExposeTheContract runs syncd with every part that exports
// metrics at work (the API; a SyncTrigger served by the real cmd/lambda in
// the Lambda Runtime Interface Emulator; the outbox forwarder and a bulk
// publish job on kinesalite) and holds its /metrics to the metric contract:
// each syncd metric exactly once, with the contract's labels, and no
// cognitosync_ metric the contract does not list for syncd.
func TestMetrics_ExposeTheContract(t *testing.T) {
	endpoint := kinesisEndpoint(t)
	rie := synctest.BuildLambdaRIE(t.TempDir())
	rie.Require(t)
	stream, _ := newStream(t, endpoint)
	pool := synctest.PoolID()
	lambdaAddr := synctest.FreeAddr(t)
	// Static credentials: the Lambda client's AWS chain looks no further
	// (no instance metadata off loopback).
	p := launchSyncdEnv(t, []string{"AWS_EC2_METADATA_DISABLED=true", "AWS_ACCESS_KEY_ID=rie", "AWS_SECRET_ACCESS_KEY=rie"},
		"--kinesis-endpoint", endpoint, "--pool", pool, "--lambda-endpoint", "http://"+lambdaAddr, "--lambda-function-name", "function")
	p.awaitReady(t)
	rie.Start(t, lambdaAddr, map[string]string{
		"SYNCTRIGGER_RULES": `{"rules": [{"type": "transform", "keys": ["email"], "ops": ["lower"]}]}`,
	})

	dev := devSync(t, p.Endpoint)
	enableStream(t, dev, pool, stream)
	if _, err := dev.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{IdentityPoolId: awsv1.String(pool),
		Events: map[string]*string{"SyncTrigger": awsv1.String("arn:aws:lambda:us-east-1:123456789012:function:lower")}}); err != nil {
		t.Fatal(err)
	}
	idn := newIdentity(t, p.Endpoint, pool)
	user := syncClient(t, p.Endpoint, idn.V1())
	out, err := user.UpdateRecords(updateInput(pool, idn.ID, "profile", token(t, user, pool, idn.ID, "profile"),
		replace("email", "Ada@Example.COM", 0)))
	if err != nil {
		t.Fatal(err)
	}
	if v := awsv1.StringValue(out.Records[0].Value); v != "ada@example.com" {
		t.Fatalf("the SyncTrigger did not run: stored %q", v)
	}
	if _, err := dev.BulkPublish(&cognitosync.BulkPublishInput{IdentityPoolId: awsv1.String(pool)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := dev.GetBulkPublishDetails(&cognitosync.GetBulkPublishDetailsInput{IdentityPoolId: awsv1.String(pool)})
		if err == nil && awsv1.StringValue(d.BulkPublishStatus) == "SUCCEEDED" &&
			strings.Contains(string(synctest.ScrapeMetrics(t, p.Endpoint+"/metrics")), metricnames.MetricBulkPublishJobs+"{") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bulk publish not SUCCEEDED and counted within 30 s: %v %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	synctest.CheckMetrics(t, synctest.ScrapeMetrics(t, p.Endpoint+"/metrics"), metricnames.ExporterSyncd)
}
