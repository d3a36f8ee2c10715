// Package e2e holds black-box tests of syncd: the full stack on a real HTTP
// listener, driven by official AWS SDK clients (aws-sdk-go v1's cognitosync,
// the Cognito Sync wire oracle, and aws-sdk-go-v2's cognitoidentity) and by
// this project's own client, on SQLite and on PostgreSQL.
package e2e
