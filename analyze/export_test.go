package analyze

// SecondRange is secondRange, for the tests.
var SecondRange = secondRange
