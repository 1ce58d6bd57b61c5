package protocol

// Codes of consumer filtering (Java RequestCode / ResponseCode), kept apart from the main tables
// so that filtering can be read on its own.
const (
	CheckClientConfig Code = 46

	SubscriptionParseFailed ResponseCode = 23
	FilterDataNotExist      ResponseCode = 27
)
