package analyze_test

import (
	"fmt"
	"strconv"
)

func itoa(v uint16) string { return strconv.Itoa(int(v)) }

func fmtSscan(s string, v *float64) (int, error) { return fmt.Sscan(s, v) }
