package mqclient

import (
	"strings"
	"testing"
)

func TestCredentials_Validate_bothOrNeither(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c  Credentials
		ok bool
	}{
		{Credentials{}, true},
		{Credentials{AccessKey: "order_srv", SecretKey: "s3cret-order"}, true},
		{Credentials{AccessKey: "order_srv"}, false},
		{Credentials{SecretKey: "s3cret-order"}, false},
	} {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate = %v, want ok=%v", tc.c, err, tc.ok)
		}
	}
}

func TestCredentials_fromEnv_optionsOnlyWhenSet_andSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	env := map[string]string{"MQ_ACCESS_KEY": "order_srv", "MQ_SECRET_KEY": "s3cret-order"}
	c := CredentialsFromEnv(func(k string) string { return env[k] })
	if !c.Enabled() || len(c.ProducerOptions()) != 1 || len(c.ConsumerOptions()) != 1 {
		t.Fatalf("credentials from env %+v: enabled %v, options %d/%d", c, c.Enabled(), len(c.ProducerOptions()), len(c.ConsumerOptions()))
	}
	if s := c.String(); strings.Contains(s, "s3cret") {
		t.Fatalf("String() = %q shows the secret", s)
	}
	var none Credentials
	if none.Enabled() || none.ProducerOptions() != nil || none.ConsumerOptions() != nil {
		t.Fatal("zero credentials add options")
	}
}
