//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReview_programDiesWithAKilledCampaign: a campaign (here the test binary run again as a
// helper) starts a program and is killed -9; the kernel kills the program too (Pdeathsig), so
// nothing is orphaned.
func TestReview_programDiesWithAKilledCampaign(t *testing.T) {
	if os.Getenv("CHAOS_TEST_CAMPAIGN") == "1" {
		p := testProgram(t, "sleep", "600")
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
		cmd, _, _ := p.current()
		fmt.Printf("pid %d\n", cmd.Process.Pid)
		select {} // until killed
	}
	helper := exec.Command(os.Args[0], "-test.run", "^TestReview_programDiesWithAKilledCampaign$", "-test.count=1")
	helper.Env = append(os.Environ(), "CHAOS_TEST_CAMPAIGN=1")
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = helper.Process.Kill(); _ = helper.Wait() }()
	sc := bufio.NewScanner(stdout)
	pid := 0
	for pid == 0 && sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "pid "); ok {
			pid, _ = strconv.Atoi(s)
		}
	}
	if pid == 0 {
		t.Fatalf("the helper printed no pid: %v", sc.Err())
	}
	if !alive(pid) {
		t.Fatalf("program %d not running before the campaign's kill", pid)
	}
	_ = helper.Process.Kill()
	_ = helper.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("program %d still running 10 s after its campaign was killed", pid)
		}
		time.Sleep(20 * time.Millisecond) // polling /proc: there is no event to await for another's child
	}
}

// alive says whether pid runs (a zombie, killed but not yet reaped by init, does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
