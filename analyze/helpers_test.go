package analyze_test

import (
	"fmt"
	"strconv"
	"time"
)

func itoa(v uint16) string { return strconv.Itoa(int(v)) }

func fmtSscan(s string, v *float64) (int, error) { return fmt.Sscan(s, v) }

func timeDuration(n int) time.Duration { return time.Duration(n) }
