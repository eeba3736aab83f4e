package finding

import "strconv"

// integer is the integer types counts come in.
type integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// Plural writes n and the noun that agrees with it: Plural(1, "frame",
// "frames") is "1 frame", Plural(0, "frame", "frames") "0 frames".
// Messages, reports and status lines use it, so that none says "1 frames".
// Both forms are given, as English plurals are not regular ("entry",
// "entries"; "info", "info").
func Plural[N integer](n N, one, many string) string {
	noun := many
	if n == 1 {
		noun = one
	}
	if n < 0 {
		return strconv.FormatInt(int64(n), 10) + " " + noun
	}
	return strconv.FormatUint(uint64(n), 10) + " " + noun
}

// Verb returns the form of a verb that agrees with a count: Verb(1, "was",
// "were") is "was".
func Verb[N integer](n N, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
