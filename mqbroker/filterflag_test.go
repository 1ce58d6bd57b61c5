package main

import (
	"io"
	"strings"
	"testing"
)

func TestLoadConfig_enablePropertyFilter_defaultsOn_flagAndEnvTurnItOff(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{nil, nil, true},
		{[]string{"--enable-property-filter=false"}, nil, false},
		{nil, map[string]string{"MQ_ENABLE_PROPERTY_FILTER": "false"}, false},
		{[]string{"--enable-property-filter=true"}, map[string]string{"MQ_ENABLE_PROPERTY_FILTER": "false"}, true},
	} {
		cfg, _, err := loadConfig(tc.args, env(tc.env), io.Discard)
		if err != nil {
			t.Fatalf("%v %v: %v", tc.args, tc.env, err)
		}
		if cfg.EnablePropertyFilter != tc.want {
			t.Errorf("%v %v: EnablePropertyFilter %v, want %v", tc.args, tc.env, cfg.EnablePropertyFilter, tc.want)
		}
	}
	_, _, err := loadConfig(nil, env(map[string]string{"MQ_ENABLE_PROPERTY_FILTER": "sometimes"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "enable-property-filter") {
		t.Fatalf("bad MQ_ENABLE_PROPERTY_FILTER: %v, want an error naming the flag", err)
	}
}
