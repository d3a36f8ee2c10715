//go:build race

package main_test

// raceBuild is true when the tests run with -race; the syncd binary under
// test is then built with -race too, so data races in the server fail the test.
const raceBuild = true
