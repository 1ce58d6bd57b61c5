package sqlstore

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/shopsaga/shopsaga/internal/mysqltest"
	"github.com/shopsaga/shopsaga/internal/sqldb"
	"github.com/shopsaga/shopsaga/internal/sqltest"
	"github.com/shopsaga/shopsaga/inventory_srv/internal/inventory"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

var discard = slog.New(slog.DiscardHandler)

func openStore(t *testing.T, db sqltest.DB) *Store {
	t.Helper()
	st, err := Open(context.Background(), Options{MySQLDSN: db.MySQLDSN, SQLitePath: db.SQLitePath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func tables(t *testing.T, st *Store) []string {
	t.Helper()
	q := "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name"
	if st.Dialect() == sqldb.SQLite {
		q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
	}
	rows, err := st.sql.SQL.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

func TestMigrations_goDownToNothingAndUpAgain(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Empty, testMigrationsGoDownToNothingAndUpAgain)
}

func testMigrationsGoDownToNothingAndUpAgain(t *testing.T, db sqltest.DB) {
	st := openStore(t, db)
	ctx := context.Background()
	if err := st.Migrate(ctx, discard); err != nil {
		t.Fatal(err)
	}
	want := []string{"goods", "goose_db_version", "stock_sell_details"}
	if got := tables(t, st); !slices.Equal(got, want) {
		t.Fatalf("tables after up: %v, want %v", got, want)
	}

	p, err := st.sql.Migrator(migrationSet)
	if err != nil {
		t.Fatal(err)
	}
	results, err := p.DownTo(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t); len(results) != want {
		t.Errorf("down applied %d migrations, want %d", len(results), want)
	}
	if got := tables(t, st); !slices.Equal(got, []string{"goose_db_version"}) {
		t.Fatalf("tables after down: %v, want only goose_db_version", got)
	}

	if err := st.Migrate(ctx, discard); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, st); !slices.Equal(got, want) {
		t.Fatalf("tables after up again: %v, want %v", got, want)
	}
	if err := st.Migrate(ctx, discard); err != nil { // nothing pending: a no-op
		t.Fatal(err)
	}
}

func TestMigrate_byInstancesStartingTogether_appliesEachMigrationOnce(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Empty, testMigrateByInstancesStartingTogether)
}

func testMigrateByInstancesStartingTogether(t *testing.T, db sqltest.DB) {
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		st := openStore(t, db)
		wg.Go(func() { errs[i] = st.Migrate(context.Background(), discard) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := openStore(t, db).sql.SQL.QueryRow(
		"SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t); applied != want {
		t.Errorf("%d migrations recorded, want %d", applied, want)
	}
}

// migrationCount is the number of inventory migrations (the .sql files of migrations.Inventory).
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(migrationSet.MySQL, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("inventory migrations: %v (%d files)", err, len(files))
	}
	return len(files)
}

func TestSaveGoods_reportsWhetherItCreated(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		st := openStore(t, db)
		ctx := context.Background()
		g := inventory.Goods{ID: 7, Name: "Tea", PriceCents: 350, Stock: 4}
		for i, want := range []bool{true, false, false} { // create, update that changes the name, update that changes nothing
			created, err := st.SaveGoods(ctx, g)
			if err != nil || created != want {
				t.Fatalf("save %d: created %v, %v; want %v", i, created, err, want)
			}
			g.Name = "Green tea"
		}
		got, err := st.Goods(ctx, []int64{7, 8})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Name != "Green tea" || got[0].PriceCents != 350 || got[0].Stock != 4 || got[0].CreatedAt.IsZero() {
			t.Errorf("goods %+v", got)
		}
	})
}

func TestInTx_rollsBack_whenFnFails(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		st := openStore(t, db)
		ctx := context.Background()
		if _, err := st.SaveGoods(ctx, inventory.Goods{ID: 1, Name: "x", Stock: 5}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := st.InTx(ctx, func(tx inventory.StockTx) error {
			if ok, err := tx.Deduct(ctx, 1, 5); !ok || err != nil {
				t.Errorf("deduct: %v, %v", ok, err)
			}
			if err := tx.InsertSellDetail(ctx, inventory.SellDetail{OrderSN: "o-1", Status: inventory.StatusDeducted}); err != nil {
				t.Error(err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want fn's error", err)
		}
		got, _ := st.Goods(ctx, []int64{1})
		if got[0].Stock != 5 {
			t.Errorf("stock %d after rollback, want 5", got[0].Stock)
		}
		if _, err := st.SellDetail(ctx, "o-1"); !errors.Is(err, inventory.ErrSellDetailNotFound) {
			t.Errorf("record after rollback: %v", err)
		}
	})
}

func TestStockTx_conditionsHold(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		st := openStore(t, db)
		ctx := context.Background()
		if _, err := st.SaveGoods(ctx, inventory.Goods{ID: 1, Name: "x", Stock: 2}); err != nil {
			t.Fatal(err)
		}
		err := st.InTx(ctx, func(tx inventory.StockTx) error {
			for _, c := range []struct {
				num  int64
				id   int64
				want bool
			}{{3, 1, false}, {2, 1, true}, {1, 1, false}, {1, 99, false}} {
				if ok, err := tx.Deduct(ctx, c.id, c.num); ok != c.want || err != nil {
					t.Errorf("Deduct(%d, %d) = %v, %v; want %v", c.id, c.num, ok, err, c.want)
				}
			}
			if ok, err := tx.Restock(ctx, 99, 1); ok || err != nil {
				t.Errorf("Restock(unknown) = %v, %v", ok, err)
			}
			d := inventory.SellDetail{OrderSN: "Ab-1", Status: inventory.StatusDeducted,
				Items: []inventory.SoldItem{{GoodsID: 1, Name: "x", Num: 2, PriceCents: 10}}}
			if err := tx.InsertSellDetail(ctx, d); err != nil {
				t.Fatal(err)
			}
			if err := tx.InsertSellDetail(ctx, d); !errors.Is(err, inventory.ErrSellDetailExists) {
				t.Errorf("second insert: %v, want ErrSellDetailExists", err)
			}
			// order_sn is case-sensitive: another order.
			if err := tx.InsertSellDetail(ctx, inventory.SellDetail{OrderSN: "AB-1", Status: inventory.StatusReturned}); err != nil {
				t.Errorf("insert of a different-case order: %v", err)
			}
			for i, want := range []bool{true, false} {
				if ok, err := tx.MarkReturned(ctx, "Ab-1"); ok != want || err != nil {
					t.Errorf("MarkReturned #%d = %v, %v; want %v", i, ok, err, want)
				}
			}
			got, err := tx.SellDetail(ctx, "Ab-1")
			if err != nil || got.Status != inventory.StatusReturned || !slices.Equal(got.Items, d.Items) {
				t.Errorf("SellDetail = %+v, %v", got, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestStore_keepsAwkwardTextIntact(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		st := openStore(t, db)
		ctx := context.Background()
		name := `Tea "O'Neil" \ 100% ` + "\u00fc\u00df 🍵 \\n"
		if _, err := st.SaveGoods(ctx, inventory.Goods{ID: 1, Name: name, Stock: 1}); err != nil {
			t.Fatal(err)
		}
		got, err := st.Goods(ctx, []int64{1})
		if err != nil || got[0].Name != name {
			t.Fatalf("goods name %q, %v; want %q", got[0].Name, err, name)
		}
		d := inventory.SellDetail{OrderSN: "o-1", Status: inventory.StatusDeducted,
			Items: []inventory.SoldItem{{GoodsID: 1, Name: name, Num: 1, PriceCents: 5}}}
		if err := st.InTx(ctx, func(tx inventory.StockTx) error { return tx.InsertSellDetail(ctx, d) }); err != nil {
			t.Fatal(err)
		}
		back, err := st.SellDetail(ctx, "o-1")
		if err != nil || back.Items[0].Name != name {
			t.Fatalf("recorded name %+v, %v; want %q", back, err, name)
		}
	})
}

func TestSchema_refusesNegativeStock(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		st := openStore(t, db)
		ctx := context.Background()
		if _, err := st.SaveGoods(ctx, inventory.Goods{ID: 1, Name: "x", Stock: 1}); err != nil {
			t.Fatal(err)
		}
		// The backstop behind the conditional update: MariaDB 4025, MySQL 3819, SQLite 275.
		_, err := st.sql.SQL.Exec("UPDATE goods SET stock = stock - 2 WHERE id = 1")
		if !sqldb.IsCheckViolation(err) {
			t.Fatalf("negative stock: %v, want a CHECK constraint error", err)
		}
	})
}

func TestNormalizeDSN(t *testing.T) {
	t.Parallel()
	got, err := NormalizeDSN("u:p@tcp(db:3306)/inventory?charset=utf8mb4")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"parseTime=true", "interpolateParams=true", "/inventory?", "charset=utf8mb4"} {
		if !strings.Contains(got, want) {
			t.Errorf("NormalizeDSN = %q, lacks %q", got, want)
		}
	}
	for _, bad := range []string{"u:p@tcp(db:3306)/", "not a dsn"} {
		if _, err := NormalizeDSN(bad); err == nil {
			t.Errorf("NormalizeDSN(%q) accepted", bad)
		}
	}
}

func TestStockTx_batchOperations_deductAllOrReportShort_andInsertAllOrNone(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		st := openStore(t, db)
		ctx := context.Background()
		for id, stock := range map[int64]int64{1: 5, 2: 3, 3: 9} {
			if _, err := st.SaveGoods(ctx, inventory.Goods{ID: id, Name: "x", Stock: stock}); err != nil {
				t.Fatal(err)
			}
		}
		stocks := func() map[int64]int64 {
			got, err := st.Goods(ctx, []int64{1, 2, 3})
			if err != nil {
				t.Fatal(err)
			}
			m := map[int64]int64{}
			for _, g := range got {
				m[g.ID] = g.Stock
			}
			return m
		}
		err := st.InTx(ctx, func(tx inventory.StockTx) error {
			if ok, err := tx.DeductAll(ctx, []inventory.Item{{GoodsID: 1, Num: 5}, {GoodsID: 3, Num: 2}}, nil); !ok || err != nil {
				t.Errorf("DeductAll(fits) = %v, %v; want true", ok, err)
			}
			if ok, err := tx.DeductAll(ctx, []inventory.Item{{GoodsID: 2, Num: 3}, {GoodsID: 3, Num: 8}}, nil); ok || err != nil {
				t.Errorf("DeductAll(goods 3 short) = %v, %v; want false", ok, err)
			}
			a := inventory.SellDetail{OrderSN: "a", Status: inventory.StatusDeducted, Items: []inventory.SoldItem{{GoodsID: 1, Name: "x", Num: 1}}}
			b := inventory.SellDetail{OrderSN: "b", Status: inventory.StatusDeducted, Items: []inventory.SoldItem{{GoodsID: 2, Name: "x", Num: 1}}}
			c := inventory.SellDetail{OrderSN: "c", Status: inventory.StatusDeducted, Items: []inventory.SoldItem{{GoodsID: 3, Name: "x", Num: 1}}}
			if err := tx.InsertSellDetails(ctx, []inventory.SellDetail{a, b}); err != nil {
				t.Fatal(err)
			}
			if err := tx.InsertSellDetails(ctx, []inventory.SellDetail{c, b}); !errors.Is(err, inventory.ErrSellDetailExists) {
				t.Errorf("insert with a recorded order: %v, want ErrSellDetailExists", err)
			}
			// The failed statement inserted nothing, and the transaction goes on.
			if _, err := tx.SellDetail(ctx, "c"); !errors.Is(err, inventory.ErrSellDetailNotFound) {
				t.Errorf("c after the failed insert: %v, want not found", err)
			}
			for _, sn := range []string{"a", "b"} {
				if got, err := tx.SellDetail(ctx, sn); err != nil || got.Items[0].GoodsID == 0 {
					t.Errorf("%s: %+v, %v", sn, got, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The short DeductAll deducted goods 2 (it fit) and not goods 3: its caller must roll back.
		if got, want := stocks(), map[int64]int64{1: 0, 2: 0, 3: 7}; !maps.Equal(got, want) {
			t.Errorf("stocks %v, want %v", got, want)
		}
	})
}

// RecordAndDeduct deducts only after recording every order: a recorded order fails it whole,
// with nothing recorded or deducted and the transaction still usable; otherwise it reports
// whether every goods fit. Text that looks like SQL stays data (the pool allows several
// statements per round trip).
func TestStockTx_recordAndDeduct_deductsOnlyWhenEveryOrderIsNew(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		st := openStore(t, db)
		ctx := context.Background()
		const awkward = `x'; DELETE FROM goods; -- "\`
		for id, stock := range map[int64]int64{1: 5, 2: 3, 3: 9} {
			if _, err := st.SaveGoods(ctx, inventory.Goods{ID: id, Name: awkward, Stock: stock}); err != nil {
				t.Fatal(err)
			}
		}
		stocks := func() map[int64]int64 {
			got, err := st.Goods(ctx, []int64{1, 2, 3})
			if err != nil {
				t.Fatal(err)
			}
			m := map[int64]int64{}
			for _, g := range got {
				m[g.ID] = g.Stock
			}
			return m
		}
		detail := func(sn string, goodsID int64) inventory.SellDetail {
			return inventory.SellDetail{OrderSN: sn, Status: inventory.StatusDeducted,
				Items: []inventory.SoldItem{{GoodsID: goodsID, Name: awkward, Num: 1}}}
		}
		err := st.InTx(ctx, func(tx inventory.StockTx) error {
			ok, err := tx.RecordAndDeduct(ctx, []inventory.SellDetail{detail("a", 1), detail("b", 3)},
				[]inventory.Item{{GoodsID: 1, Num: 2}, {GoodsID: 3, Num: 4}}, nil)
			if !ok || err != nil {
				t.Errorf("RecordAndDeduct(new orders, fits) = %v, %v; want true", ok, err)
			}
			ok, err = tx.RecordAndDeduct(ctx, []inventory.SellDetail{detail("c", 2), detail("a", 2)},
				[]inventory.Item{{GoodsID: 2, Num: 1}}, nil)
			if ok || !errors.Is(err, inventory.ErrSellDetailExists) {
				t.Errorf("RecordAndDeduct(a recorded order) = %v, %v; want ErrSellDetailExists", ok, err)
			}
			if _, err := tx.SellDetail(ctx, "c"); !errors.Is(err, inventory.ErrSellDetailNotFound) {
				t.Errorf("c after the failed record: %v, want not found", err)
			}
			ok, err = tx.RecordAndDeduct(ctx, []inventory.SellDetail{detail("d", 2)}, []inventory.Item{{GoodsID: 2, Num: 4}}, nil)
			if ok || err != nil {
				t.Errorf("RecordAndDeduct(one goods short) = %v, %v; want false", ok, err)
			}
			for _, sn := range []string{"a", "b", "d"} {
				if got, err := tx.SellDetail(ctx, sn); err != nil || got.Items[0].Name != awkward {
					t.Errorf("%s: %+v, %v; want recorded with the name intact", sn, got, err)
				}
			}
			if _, err := tx.RecordAndDeduct(ctx, nil, []inventory.Item{{GoodsID: 2, Num: 1}}, nil); err == nil {
				t.Error("RecordAndDeduct(no records) accepted")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The short deduction of one goods deducted nothing; the duplicate deducted nothing.
		if got, want := stocks(), map[int64]int64{1: 3, 2: 3, 3: 5}; !maps.Equal(got, want) {
			t.Errorf("stocks %v, want %v", got, want)
		}
	})
}

// Review finding 3: when the INSERT of RecordAndDeduct succeeds and its UPDATE fails with an
// error of the database's (here a trigger; in production e.g. a lock wait timeout, 1205), the
// records stay in the transaction and nothing is deducted: the contract tells the caller to roll
// back, and a rollback leaves nothing.
func TestReview_recordAndDeduct_secondStatementFails_leavesTheInsert(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		st := openStore(t, db)
		ctx := context.Background()
		if _, err := st.SaveGoods(ctx, inventory.Goods{ID: 1, Name: "x", Stock: 5}); err != nil {
			t.Fatal(err)
		}
		trigger := `CREATE TRIGGER refuse_deduct BEFORE UPDATE ON goods FOR EACH ROW
			SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'deduction refused'`
		if db.Dialect() == sqldb.SQLite {
			trigger = `CREATE TRIGGER refuse_deduct BEFORE UPDATE ON goods BEGIN SELECT RAISE(ABORT, 'deduction refused'); END`
		}
		if err := st.db.Exec(trigger).Error; err != nil {
			t.Fatal(err)
		}
		d := inventory.SellDetail{OrderSN: "a", Status: inventory.StatusDeducted,
			Items: []inventory.SoldItem{{GoodsID: 1, Name: "x", Num: 2}}}
		errRollBack := errors.New("roll back")
		err := st.InTx(ctx, func(tx inventory.StockTx) error {
			ok, err := tx.RecordAndDeduct(ctx, []inventory.SellDetail{d}, []inventory.Item{{GoodsID: 1, Num: 2}}, nil)
			if ok || err == nil || errors.Is(err, inventory.ErrSellDetailExists) || !strings.Contains(err.Error(), "deduction refused") {
				t.Errorf("RecordAndDeduct with the UPDATE refused = %v, %v; want the database's error", ok, err)
			}
			if _, err := tx.SellDetail(ctx, "a"); err != nil {
				t.Errorf("record of a after the failed UPDATE: %v, want it still in the transaction", err)
			}
			return errRollBack
		})
		if !errors.Is(err, errRollBack) {
			t.Fatalf("InTx: %v", err)
		}
		if _, err := st.SellDetail(ctx, "a"); !errors.Is(err, inventory.ErrSellDetailNotFound) {
			t.Errorf("record of a after the rollback: %v, want not found", err)
		}
		if got, err := st.Goods(ctx, []int64{1}); err != nil || got[0].Stock != 5 {
			t.Errorf("goods 1 after the rollback: %+v, %v; want stock 5", got, err)
		}
	})
}

// LockStock reads name and price with the stock under the lock, and DeductAll's guard deducts
// only rows that still have the name (byte for byte) and price given (review finding 1).
func TestStockTx_lockStockReadsNameAndPrice_andDeductAllHonoursTheGuard(t *testing.T) {
	sqltest.ForEachBackend(t, sqltest.Inventory, func(t *testing.T, db sqltest.DB) {
		st := openStore(t, db)
		ctx := context.Background()
		for id, name := range map[int64]string{1: "Tea", 2: "Cake"} {
			if _, err := st.SaveGoods(ctx, inventory.Goods{ID: id, Name: name, PriceCents: 100 * id, Stock: 5}); err != nil {
				t.Fatal(err)
			}
		}
		err := st.InTx(ctx, func(tx inventory.StockTx) error {
			g, found, err := tx.LockStock(ctx, 1)
			if want := (inventory.Goods{ID: 1, Name: "Tea", PriceCents: 100, Stock: 5}); err != nil || !found || g != want {
				t.Errorf("LockStock(1) = %+v, %v, %v; want %+v", g, found, err, want)
			}
			if _, found, err := tx.LockStock(ctx, 9); found || err != nil {
				t.Errorf("LockStock(unknown) = %v, %v; want not found", found, err)
			}
			items := []inventory.Item{{GoodsID: 1, Num: 1}, {GoodsID: 2, Num: 1}}
			for _, c := range []struct {
				asSold []inventory.Goods
				want   bool
			}{
				{[]inventory.Goods{{ID: 1, Name: "tea", PriceCents: 100}, {ID: 2, Name: "Cake", PriceCents: 200}}, false}, // case differs
				{[]inventory.Goods{{ID: 1, Name: "Tea", PriceCents: 100}, {ID: 2, Name: "Cake", PriceCents: 201}}, false}, // price differs
				{[]inventory.Goods{{ID: 1, Name: "Tea", PriceCents: 100}, {ID: 2, Name: "Cake", PriceCents: 200}}, true},
			} {
				if ok, err := tx.DeductAll(ctx, items, c.asSold); ok != c.want || err != nil {
					t.Errorf("DeductAll(guard %+v) = %v, %v; want %v", c.asSold, ok, err, c.want)
				}
			}
			if _, err := tx.DeductAll(ctx, items, make([]inventory.Goods, 1)); err == nil {
				t.Error("DeductAll with a guard of the wrong length accepted")
			}
			return errors.New("roll back")
		})
		if err == nil || err.Error() != "roll back" {
			t.Fatal(err)
		}
	})
}
