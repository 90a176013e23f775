package analytics

// FineBucket is fineBucket, for the tests of medians.
var FineBucket = fineBucket
