package config

import (
	"io"
	"strings"
	"testing"
)

func TestLoad_mqCredentials_fromEnvironment_bothOrNeither(t *testing.T) {
	t.Parallel()
	base := map[string]string{"INVENTORY_MYSQL_DSN": "u:p@tcp(db:3306)/inventory", "AUTH_DISABLED": "1"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := Load(nil, getenv(with("MQ_ACCESS_KEY", "inventory_srv", "MQ_SECRET_KEY", "s3cret-inv")), io.Discard)
	if err == nil {
		err = c.Validate()
	}
	if err != nil || c.MQCredentials.AccessKey != "inventory_srv" || c.MQCredentials.SecretKey != "s3cret-inv" {
		t.Fatalf("Load = %v, %v; want the credentials from MQ_ACCESS_KEY/MQ_SECRET_KEY", c.MQCredentials, err)
	}
	c, err = Load(nil, getenv(with("MQ_SECRET_KEY", "s3cret-inv")), io.Discard)
	if err == nil {
		err = c.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "MQ_ACCESS_KEY") {
		t.Fatalf("secret without access key: %v, want an error naming MQ_ACCESS_KEY", err)
	}
}
