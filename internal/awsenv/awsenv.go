// Package awsenv holds what syncd and the worker share to build AWS clients
// for endpoints that may be local emulators (kinesalite, the Lambda Runtime
// Interface Emulator, an S3-compatible store): such endpoints accept any
// signature, so a machine without AWS credentials can still use them.
package awsenv

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// WithPlaceholder keeps the credential chain but falls back to a fixed key
// named source when the chain has none, for endpoints that do not check
// signatures. A chain that yields credentials is always used: a real AWS
// endpoint gets real credentials. The result is cached like any provider.
func WithPlaceholder(chain aws.CredentialsProvider, source string) aws.CredentialsProvider {
	return aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		if chain != nil {
			if cr, err := chain.Retrieve(ctx); err == nil {
				return cr, nil
			}
		}
		return aws.Credentials{AccessKeyID: source, SecretAccessKey: source, Source: source + " placeholder"}, nil
	}))
}
