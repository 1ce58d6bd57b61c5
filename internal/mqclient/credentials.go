package mqclient

import (
	"errors"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// Credentials are a service's ACL account on the broker (Apache RocketMQ's plain ACL, which
// mqbroker implements with --acl-file): every request is signed with them. Both services read
// them from MQ_ACCESS_KEY and MQ_SECRET_KEY (environment only: the secret key is a secret). The
// zero value means unsigned requests (a broker without ACL).
type Credentials struct {
	AccessKey string
	SecretKey string
}

// CredentialsFromEnv reads MQ_ACCESS_KEY and MQ_SECRET_KEY.
func CredentialsFromEnv(getenv func(string) string) Credentials {
	return Credentials{AccessKey: getenv("MQ_ACCESS_KEY"), SecretKey: getenv("MQ_SECRET_KEY")}
}

// Validate requires both keys or neither.
func (c Credentials) Validate() error {
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return errors.New("MQ_ACCESS_KEY and MQ_SECRET_KEY: set both (ACL on the broker) or neither")
	}
	return nil
}

// Enabled reports whether requests are signed.
func (c Credentials) Enabled() bool { return c.AccessKey != "" }

func (c Credentials) primitive() primitive.Credentials {
	return primitive.Credentials{AccessKey: c.AccessKey, SecretKey: c.SecretKey}
}

// ProducerOptions sign a producer's requests (none without credentials).
func (c Credentials) ProducerOptions() []producer.Option {
	if !c.Enabled() {
		return nil
	}
	return []producer.Option{producer.WithCredentials(c.primitive())}
}

// ConsumerOptions sign a consumer's requests (none without credentials).
func (c Credentials) ConsumerOptions() []consumer.Option {
	if !c.Enabled() {
		return nil
	}
	return []consumer.Option{consumer.WithCredentials(c.primitive())}
}

// String hides the secret key (configs get logged).
func (c Credentials) String() string {
	if !c.Enabled() {
		return "none"
	}
	return c.AccessKey + ":***"
}
