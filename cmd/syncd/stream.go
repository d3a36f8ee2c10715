package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/outbox"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

// Stream modes (--stream).
const (
	streamKinesis = "kinesis" // forwarder + bulk publish to Kinesis (AWS or --kinesis-endpoint)
	streamNone    = "none"    // no forwarder: outbox rows wait for a syncd that streams
)

// streaming is syncd's stream side (spec D): the outbox forwarder and the
// bulk publish runner, both publishing through the Kinesis publisher.
type streaming struct {
	forwarder *outbox.Forwarder
	bulk      *outbox.BulkRunner
}

// newStreaming builds the stream side for --stream; nil for "none".
func newStreaming(ctx context.Context, c Config, store *sqlstore.DB, owner string, reg prometheus.Registerer, log *slog.Logger) (*streaming, error) {
	if c.Stream == streamNone {
		log.Info("streaming off (--stream none): changes of streaming pools stay in the outbox until a syncd with a stream runs")
		return nil, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.Region))
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	if c.KinesisEndpoint != "" || c.S3Endpoint != "" {
		cfg.Credentials = withPlaceholder(cfg.Credentials) // local emulators accept any key
	}
	kc := awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) {
		if c.KinesisEndpoint != "" {
			o.BaseEndpoint = aws.String(c.KinesisEndpoint)
		}
	})
	pub, err := kinesis.NewPublisher(kinesis.PublisherConfig{Client: kc, Marshaler: kinesis.RawMarshaler{}},
		watermill.NewSlogLogger(log))
	if err != nil {
		return nil, err
	}
	var off outbox.Offloader
	if c.S3Bucket != "" {
		sc := s3.NewFromConfig(cfg, func(o *s3.Options) {
			if c.S3Endpoint != "" {
				o.BaseEndpoint = aws.String(c.S3Endpoint)
				o.UsePathStyle = true
			}
		})
		if off, err = outbox.NewS3Offloader(outbox.S3Config{Client: sc, Bucket: c.S3Bucket}); err != nil {
			return nil, err
		}
	}
	fw, err := outbox.NewForwarder(outbox.ForwarderConfig{
		Store: store, Publisher: pub, Offload: off, Owner: owner, Registerer: reg, Log: log.With("component", "outbox"),
	})
	if err != nil {
		return nil, err
	}
	// A bulk publish sends one record per dataset and promises no order
	// between them (spec D.3), so it may fill each PutRecords with many
	// records of one identity; the forwarder keeps per-identity order.
	bulkPub, err := kinesis.NewPublisher(kinesis.PublisherConfig{Client: kc, Marshaler: kinesis.RawMarshaler{}, Unordered: true},
		watermill.NewSlogLogger(log))
	if err != nil {
		return nil, err
	}
	bulk, err := outbox.NewBulkRunner(outbox.BulkConfig{
		Store: store, Publisher: bulkPub, Offload: off, Owner: owner, Registerer: reg, Log: log.With("component", "bulk"),
	})
	if err != nil {
		return nil, err
	}
	log.Info("streaming to Kinesis", "kinesis_endpoint", c.KinesisEndpoint, "s3_bucket", c.S3Bucket)
	return &streaming{forwarder: fw, bulk: bulk}, nil
}

// withPlaceholder keeps the AWS credential chain but falls back to a fixed
// key for endpoints that do not check signatures.
func withPlaceholder(chain aws.CredentialsProvider) aws.CredentialsProvider {
	return aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		if chain != nil {
			if cr, err := chain.Retrieve(ctx); err == nil {
				return cr, nil
			}
		}
		return aws.Credentials{AccessKeyID: "syncd", SecretAccessKey: "syncd", Source: "syncd placeholder"}, nil
	}))
}

// processOwner names this process in leases and bulk jobs.
func processOwner() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", h, os.Getpid(), randHex(4))
}
