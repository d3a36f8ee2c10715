package cliconfig

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/syncapi"
)

// Service holds the flags of the sync service that syncd and the worker's
// embedded mode share. Define declares them for both programs, so they
// accept the same flag names, defaults and help, with each program's
// environment variable prefix; ServerConfig copies them into the one
// server.Config both programs build syncd from.
type Service struct {
	Region             string
	Pools              List
	DeveloperKeys      Keys
	AccountID          string
	SessionTTL         time.Duration
	CredentialTTL      time.Duration
	MaxDatasets        int
	MaxRecords         int64
	MaxDatasetBytes    int64
	LambdaEndpoint     string
	LambdaFunctionName string
}

// ServiceNames is what differs between the programs that Define the
// service flags.
type ServiceNames struct {
	// Prefix starts every environment variable, e.g. "SYNCD_".
	Prefix string
	// Scope starts the help of the flags that only the sync service reads,
	// e.g. "embedded mode: " for the worker; "" for syncd.
	Scope string
	// RegionHelp and PoolsHelp explain --region and --pool, whose meaning
	// the worker widens (its remote mode uses them too).
	RegionHelp, PoolsHelp string
	// PoolsEnv is the variable of --pool; "": Prefix+"POOLS".
	PoolsEnv string
	// KeysEnv is the variable of --developer-key; "":
	// Prefix+"DEVELOPER_KEYS".
	KeysEnv string
	// KeysDefault says what happens without --developer-key.
	KeysDefault string
}

// Define declares the service flags on fs with their environment variables
// read through env (a variable's parse error is reported by env.Err). As
// for every list flag of the commands, --pool and --developer-key replace
// the values of their environment variable.
func (s *Service) Define(fs *flag.FlagSet, env *Env, n ServiceNames) {
	p, scope := n.Prefix, n.Scope
	if n.PoolsEnv == "" {
		n.PoolsEnv = p + "POOLS"
	}
	if n.KeysEnv == "" {
		n.KeysEnv = p + "DEVELOPER_KEYS"
	}
	fs.StringVar(&s.Region, "region", env.String(p+"REGION", env.String("AWS_REGION", "us-east-1")),
		fmt.Sprintf("%s [%sREGION, AWS_REGION]", n.RegionHelp, p))
	env.Value(n.PoolsEnv, &s.Pools)
	ReplacingVar(fs, &s.Pools, func() { s.Pools = nil }, "pool", fmt.Sprintf("%s [%s, comma-separated]", n.PoolsHelp, n.PoolsEnv))
	env.Value(n.KeysEnv, &s.DeveloperKeys)
	ReplacingVar(fs, &s.DeveloperKeys, func() { s.DeveloperKeys = nil }, "developer-key", fmt.Sprintf(
		"%sdeveloper credentials ACCESS_KEY_ID:SECRET, repeatable; developer-only operations need them\n(default: %s) [%s, comma-separated]",
		scope, n.KeysDefault, n.KeysEnv))
	fs.StringVar(&s.AccountID, "account-id", env.String(p+"ACCOUNT_ID", "000000000000"),
		fmt.Sprintf("%sAWS account id reported as LastModifiedBy for developer writes [%sACCOUNT_ID]", scope, p))
	fs.DurationVar(&s.SessionTTL, "session-ttl", env.Duration(p+"SESSION_TTL", time.Hour),
		fmt.Sprintf("%slifetime of a SyncSessionToken [%sSESSION_TTL]", scope, p))
	fs.DurationVar(&s.CredentialTTL, "credential-ttl", env.Duration(p+"CREDENTIAL_TTL", time.Hour),
		fmt.Sprintf("%slifetime of credentials from GetCredentialsForIdentity [%sCREDENTIAL_TTL]", scope, p))
	d := syncapi.DefaultLimits
	fs.IntVar(&s.MaxDatasets, "max-datasets", int(env.Int(p+"MAX_DATASETS", int64(d.MaxDatasets))),
		fmt.Sprintf("%sdatasets per identity (AWS: 20) [%sMAX_DATASETS]", scope, p))
	fs.Int64Var(&s.MaxRecords, "max-records", env.Int(p+"MAX_RECORDS", d.MaxRecords),
		fmt.Sprintf("%srecords per dataset (AWS: 1024) [%sMAX_RECORDS]", scope, p))
	fs.Int64Var(&s.MaxDatasetBytes, "max-dataset-bytes", env.Int(p+"MAX_DATASET_BYTES", d.MaxDatasetBytes),
		fmt.Sprintf("%sbytes of keys and values per dataset (AWS: 1 MB) [%sMAX_DATASET_BYTES]", scope, p))
	fs.StringVar(&s.LambdaEndpoint, "lambda-endpoint", env.String(p+"LAMBDA_ENDPOINT", ""), fmt.Sprintf(
		"%sURL of a Lambda-compatible Invoke API for pools' SyncTrigger functions, e.g. a Lambda Runtime Interface Emulator\n(default: AWS Lambda, configured by the standard AWS environment) [%sLAMBDA_ENDPOINT]", scope, p))
	fs.StringVar(&s.LambdaFunctionName, "lambda-function-name", env.String(p+"LAMBDA_FUNCTION_NAME", ""), fmt.Sprintf(
		"%sinvoke this function name instead of the pool's SyncTrigger ARN (the emulator serves only \"function\") [%sLAMBDA_FUNCTION_NAME]", scope, p))
}

// Validate reports every invalid service flag, named as on the command
// line.
func (s Service) Validate() []error {
	var errs []error
	if s.Region == "" {
		errs = append(errs, errors.New("--region is required"))
	}
	if s.MaxDatasets < 1 || s.MaxRecords < 1 || s.MaxDatasetBytes < 1 {
		errs = append(errs, errors.New("--max-datasets, --max-records and --max-dataset-bytes must be positive"))
	}
	if s.SessionTTL <= 0 || s.CredentialTTL <= 0 {
		errs = append(errs, errors.New("--session-ttl and --credential-ttl must be positive"))
	}
	if s.LambdaEndpoint != "" && !strings.HasPrefix(s.LambdaEndpoint, "http://") && !strings.HasPrefix(s.LambdaEndpoint, "https://") {
		errs = append(errs, fmt.Errorf("--lambda-endpoint must be an http:// or https:// URL, got %q", s.LambdaEndpoint))
	}
	return errs
}

// ServerConfig returns a server.Config with the service flags filled in;
// the program adds listeners, store, stream, logger and registry.
func (s Service) ServerConfig() server.Config {
	return server.Config{
		Region: s.Region, Pools: s.Pools, DeveloperKeys: s.DeveloperKeys, AccountID: s.AccountID,
		Limits:     syncapi.Limits{MaxDatasets: s.MaxDatasets, MaxRecords: s.MaxRecords, MaxDatasetBytes: s.MaxDatasetBytes},
		SessionTTL: s.SessionTTL, CredentialTTL: s.CredentialTTL,
		LambdaEndpoint: s.LambdaEndpoint, LambdaFunctionName: s.LambdaFunctionName,
	}
}

// Keys is a repeatable flag of developer credentials ACCESS_KEY_ID:SECRET,
// also comma-separated. A later pair with an id already given replaces its
// secret; the order of first appearance is kept (the first key is the one
// the worker's embedded mode acts and prints with).
type Keys []server.DeveloperKey

func (k *Keys) String() string { return fmt.Sprintf("%d keys", len(*k)) }

// Set adds the comma-separated pairs of v.
func (k *Keys) Set(v string) error {
	for _, kv := range strings.Split(v, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		id, secret, ok := strings.Cut(kv, ":")
		if !ok || id == "" || secret == "" {
			return fmt.Errorf("developer key %q: want ACCESS_KEY_ID:SECRET", kv)
		}
		k.add(server.DeveloperKey{ID: id, Secret: secret})
	}
	return nil
}

func (k *Keys) add(key server.DeveloperKey) {
	for i := range *k {
		if (*k)[i].ID == key.ID {
			(*k)[i].Secret = key.Secret
			return
		}
	}
	*k = append(*k, key)
}
