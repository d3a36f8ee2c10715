package server

import (
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/importer"
)

// loginFallback is the source's Cognito Identity at c.Logins.FallbackURL
// ("aws": AWS in c.Region), called unsigned as devices call GetId; nil
// without a FallbackURL.
func loginFallback(c Config) syncapi.LoginFallback {
	u := c.Logins.FallbackURL
	if u == "" {
		return nil
	}
	opt := func(o *cognitoidentity.Options) {
		o.Region = c.Region
		o.Credentials = aws.AnonymousCredentials{}
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
		if u != "aws" {
			o.BaseEndpoint = aws.String(u)
		}
	}
	var cl *cognitoidentity.Client
	if c.AWS != nil {
		cl = cognitoidentity.NewFromConfig(*c.AWS, opt)
	} else {
		cl = cognitoidentity.New(cognitoidentity.Options{}, opt)
	}
	return importer.SourceLogins{Identity: cl}
}
