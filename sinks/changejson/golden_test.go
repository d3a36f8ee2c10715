package changejson_test

// Computed independently: sha256 and Python's uuid.uuid5 of
// ["us-east-1:p","us-east-1:i","d","k",7].
const (
	goldenKey  = "77b74e2fdb5e70c74ecc4e4c4d02e15a46a4b54e1a8f3704ec4d3f9dd8eb0465"
	goldenUUID = "ab9000bb-9589-5f85-9913-2c735e79c14f"
)
