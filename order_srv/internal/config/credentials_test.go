package config_test

import (
	"io"
	"strings"
	"testing"

	"github.com/shopsaga/shopsaga/order_srv/internal/config"
)

func TestLoad_mqCredentials_fromEnvironment_bothOrNeither(t *testing.T) {
	t.Parallel()
	base := map[string]string{"ORDER_MYSQL_DSN": "u:p@tcp(db:3306)/order"}
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
	c, err := config.Load(nil, env(with("MQ_ACCESS_KEY", "order_srv", "MQ_SECRET_KEY", "s3cret-order")), io.Discard)
	if err != nil || c.MQCredentials.AccessKey != "order_srv" || c.MQCredentials.SecretKey != "s3cret-order" {
		t.Fatalf("Load = %v, %v; want the credentials from MQ_ACCESS_KEY/MQ_SECRET_KEY", c.MQCredentials, err)
	}
	if _, err := config.Load(nil, env(with("MQ_ACCESS_KEY", "order_srv")), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "MQ_SECRET_KEY") {
		t.Fatalf("access key without secret: %v, want an error naming MQ_SECRET_KEY", err)
	}
}
