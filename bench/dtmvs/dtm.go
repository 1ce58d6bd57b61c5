package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dtm-labs/dtm/client/dtmcli"
	"github.com/dtm-labs/dtm/dtmsvr/entry"
	_ "github.com/dtm-labs/dtm/dtmsvr/microservices" // as DTM's own main does
	_ "github.com/go-sql-driver/mysql"
)

// runDTMServer is DTM's server main (github.com/dtm-labs/dtm, main.go, without the admin UI):
// it parses DTM's own flags (-c config) from args.
func runDTMServer(args []string) error {
	os.Args = append([]string{"dtm"}, args...)
	version := "v1.19.0"
	if app, _ := entry.Main(&version); app == nil {
		return errors.New("dtm server did not start")
	}
	q := make(chan os.Signal, 1)
	signal.Notify(q, syscall.SIGINT, syscall.SIGTERM)
	<-q
	return nil
}

// The DTM side's schema: the same rows as shopsaga's order (an order, its item; the stock of a
// goods), in two databases of the same server; DTM's barrier table is dtm_barrier.barrier.
var (
	dtmInventorySchema = []string{
		`CREATE TABLE IF NOT EXISTS goods (id BIGINT NOT NULL PRIMARY KEY, price_cents BIGINT NOT NULL,
			stock BIGINT NOT NULL, CONSTRAINT goods_stock_not_negative CHECK (stock >= 0)) ENGINE = InnoDB`,
	}
	dtmOrderSchema = []string{
		`CREATE TABLE IF NOT EXISTS orders (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			order_sn VARCHAR(64) NOT NULL UNIQUE, user_id BIGINT NOT NULL, status VARCHAR(20) NOT NULL,
			total_cents BIGINT NOT NULL, address VARCHAR(200) NOT NULL, signer_name VARCHAR(40) NOT NULL,
			signer_mobile VARCHAR(20) NOT NULL, created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE = InnoDB`,
		`CREATE TABLE IF NOT EXISTS order_goods (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			order_sn VARCHAR(64) NOT NULL, goods_id BIGINT NOT NULL, num BIGINT NOT NULL,
			price_cents BIGINT NOT NULL, KEY (order_sn)) ENGINE = InnoDB`,
	}
)

// orderRequest is the body of POST /order on the DTM app, shaped like shopsaga's POST /v1/orders.
type orderRequest struct {
	UserID       int64  `json:"user_id"`
	Address      string `json:"address"`
	SignerName   string `json:"signer_name"`
	SignerMobile string `json:"signer_mobile"`
	Items        []item `json:"items"`
}

type item struct {
	GoodsID int64 `json:"goods_id"`
	Num     int64 `json:"num"`
}

// runDTMApp serves the DTM side of the order, both parts in one process as two HTTP handlers
// with their own databases (DTM calls the inventory part over HTTP, as order_srv calls
// inventory_srv):
//
//	POST /order              2-phase message: prepare at DTM, insert the order and its items with
//	                         the barrier in the orders database, submit; DTM then calls /deduct
//	GET  /queryPrepared      DTM's check-back for an undecided message (barrier.QueryPrepared)
//	POST /deduct             the message's branch: deduct the stock with the barrier in the
//	                         inventory database
func runDTMApp(args []string) error {
	fs := flag.NewFlagSet("dtm-app", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:28281", "listen address")
	dtmURL := fs.String("dtm", "http://127.0.0.1:36889/api/dtmsvr", "DTM server API")
	invDSN := fs.String("inventory-dsn", "", "inventory database DSN")
	ordDSN := fs.String("orders-dsn", "", "orders database DSN")
	price := fs.Int64("price", 100, "unit price in cents")
	if err := fs.Parse(args); err != nil {
		return err
	}
	inv, err := openDB(*invDSN)
	if err != nil {
		return err
	}
	ord, err := openDB(*ordDSN)
	if err != nil {
		return err
	}
	self := "http://" + *addr
	mux := http.NewServeMux()
	mux.HandleFunc("POST /order", func(w http.ResponseWriter, r *http.Request) {
		var req orderRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Items) == 0 {
			http.Error(w, "bad order", http.StatusBadRequest)
			return
		}
		sn := newGID()
		msg := dtmcli.NewMsg(*dtmURL, sn).Add(self+"/deduct", req.Items)
		err := msg.DoAndSubmitDB(self+"/queryPrepared", ord, func(tx *sql.Tx) error {
			var total int64
			for _, it := range req.Items {
				total += it.Num * *price
			}
			if _, err := tx.Exec(`INSERT INTO orders (order_sn, user_id, status, total_cents, address, signer_name, signer_mobile)
				VALUES (?, ?, 'paying', ?, ?, ?, ?)`, sn, req.UserID, total, req.Address, req.SignerName, req.SignerMobile); err != nil {
				return err
			}
			for _, it := range req.Items {
				if _, err := tx.Exec(`INSERT INTO order_goods (order_sn, goods_id, num, price_cents) VALUES (?, ?, ?, ?)`,
					sn, it.GoodsID, it.Num, *price); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"order_sn":%q}`, sn)
	})
	mux.HandleFunc("GET /queryPrepared", func(w http.ResponseWriter, r *http.Request) {
		bb, err := dtmcli.BarrierFromQuery(r.URL.Query())
		if err == nil {
			err = bb.QueryPrepared(ord)
		}
		writeDTMResult(w, err)
	})
	mux.HandleFunc("POST /deduct", func(w http.ResponseWriter, r *http.Request) {
		var items []item
		if err := json.NewDecoder(r.Body).Decode(&items); err != nil {
			http.Error(w, "bad branch body", http.StatusBadRequest)
			return
		}
		bb, err := dtmcli.BarrierFromQuery(r.URL.Query())
		if err == nil {
			err = bb.CallWithDB(inv, func(tx *sql.Tx) error {
				for _, it := range items {
					res, err := tx.Exec(`UPDATE goods SET stock = stock - ? WHERE id = ? AND stock >= ?`, it.Num, it.GoodsID, it.Num)
					if err != nil {
						return err
					}
					if n, _ := res.RowsAffected(); n != 1 {
						return fmt.Errorf("goods %d: insufficient stock", it.GoodsID) // retried by DTM
					}
				}
				return nil
			})
		}
		writeDTMResult(w, err)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		q := make(chan os.Signal, 1)
		signal.Notify(q, syscall.SIGINT, syscall.SIGTERM)
		<-q
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// writeDTMResult answers a branch or check-back the way DTM's HTTP protocol expects.
func writeDTMResult(w http.ResponseWriter, err error) {
	code, body := dtmcli.Result2HttpJSON(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func openDB(dsn string) (*sql.DB, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(20) // as shopsaga's services
	db.SetMaxIdleConns(20)
	return db, db.Ping()
}

func newGID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "dtm-" + hex.EncodeToString(b[:])
}
