package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Config configures an S3Offloader.
type S3Config struct {
	Client  *s3.Client    // required; main builds it from aws.Config
	Bucket  string        // required
	Prefix  string        // object key prefix; "": "cognito-streams/"
	Expires time.Duration // pre-signed URL lifetime; 0: 7 days (SigV4's maximum)
}

// S3Offloader puts large stream payloads into S3 and returns pre-signed GET
// URLs (payloadType S3Url, spec D.2). Safe for concurrent use.
type S3Offloader struct {
	c       S3Config
	presign *s3.PresignClient
}

var _ Offloader = (*S3Offloader)(nil)

// NewS3Offloader returns an S3Offloader.
func NewS3Offloader(c S3Config) (*S3Offloader, error) {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("s3 offloader: Client is required"))
	}
	if c.Bucket == "" {
		errs = append(errs, errors.New("s3 offloader: Bucket is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.Prefix == "" {
		c.Prefix = "cognito-streams/"
	}
	if c.Expires <= 0 {
		c.Expires = 7 * 24 * time.Hour
	}
	return &S3Offloader{c: c, presign: s3.NewPresignClient(c.Client)}, nil
}

// Offload stores body under Prefix+key and pre-signs a GET of it.
func (o *S3Offloader) Offload(ctx context.Context, key string, body []byte) (string, error) {
	k := o.c.Prefix + key
	if _, err := o.c.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(o.c.Bucket), Key: aws.String(k), Body: bytes.NewReader(body),
		ContentType: aws.String("application/json"), ContentLength: aws.Int64(int64(len(body))),
	}); err != nil {
		return "", fmt.Errorf("put s3://%s/%s: %w", o.c.Bucket, k, err)
	}
	req, err := o.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.c.Bucket), Key: aws.String(k)},
		s3.WithPresignExpires(o.c.Expires))
	if err != nil {
		return "", fmt.Errorf("presign s3://%s/%s: %w", o.c.Bucket, k, err)
	}
	return req.URL, nil
}
