// Package deps pins the module's dependencies while the packages that use
// them are written; it is removed once they import them directly.
package deps

import (
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	_ "github.com/aws/aws-sdk-go/service/cognitosync"
	_ "github.com/aws/smithy-go"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "golang.org/x/sync/errgroup"
	_ "modernc.org/sqlite"
)
