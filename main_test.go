package pgqueue_test

import (
	"os"
	"testing"

	"github.com/pgqueue/pgqueue/internal/servicetest"
)

// TestMain prints one line at the end saying how many tests skipped for
// want of a service, and why.
func TestMain(m *testing.M) { os.Exit(servicetest.Run(m)) }
