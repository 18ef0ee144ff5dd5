// A sample application's database (sample_app.sql: a pagila-like rental store with a domain, an
// enum, a partitioned table, plpgsql triggers, a full-text column, a view and materialized views)
// on real PostgreSQL 15 clusters: after a full copy and after changes, the Secondary's schema
// (pg_dump --schema-only) and data equal the Primary's, and its materialized views hold what the
// Primary's do; the ones the Primary left WITH NO DATA stay unpopulated. Large objects, which
// logical decoding never carries, are not replicated and each sync says how many there are.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/db_fixture.h"

namespace hasync {
namespace {

using testing::DbTest;
using testing::PgBin;
using testing::PgCluster;

// The materialized views' rows, and whether each is populated.
constexpr char kMatviews[] =
    "SELECT format('%I.%I %s', schemaname, matviewname, ispopulated) "
    "FROM pg_matviews ORDER BY 1";
constexpr char kRentalByCategory[] =
    "SELECT category, total_sales, rentals FROM public.rental_by_category ORDER BY category";
constexpr char kBestCategories[] =
    "SELECT category, total_sales FROM public.best_categories ORDER BY total_sales DESC, category";

class DbSampleTest : public DbTest {
 protected:
  void LoadSample() {
    auto r = testing::Shell(
        std::string(PgBin()) + "/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " +
        std::to_string(primary_->port()) + " -U postgres -d " + db_ + " -f " HASYNC_SAMPLE_SQL);
    ASSERT_EQ(r.code, 0) << r.out;
  }

  // pg_dump --schema-only of one side, as bench/run_verify.sh compares them: hasync's own
  // objects (its schema, publications, the Primary's event trigger), pg_dump's \restrict lines
  // (a random key per dump), comments and blank lines left out.
  std::string Schema(const PgCluster& c) const {
    auto r = testing::Shell(std::string(PgBin()) +
                            "/pg_dump --schema-only --no-owner --no-privileges --no-publications "
                            "--no-subscriptions -N hasync -h 127.0.0.1 -p " +
                            std::to_string(c.port()) + " -U postgres " + db_);
    EXPECT_EQ(r.code, 0) << r.out;
    std::istringstream in(r.out);
    std::string out, line;
    bool in_trigger = false;
    while (std::getline(in, line)) {
      if (line.rfind("CREATE EVENT TRIGGER hasync_publications ", 0) == 0) in_trigger = true;
      if (in_trigger) {
        in_trigger = line.empty() || line.back() != ';';
        continue;
      }
      if (line.empty() || line.rfind("--", 0) == 0 || line.rfind("\\restrict ", 0) == 0 ||
          line.rfind("\\unrestrict ", 0) == 0) {
        continue;
      }
      out += line + "\n";
    }
    return out;
  }

  // Schema, tables and sequences, and the materialized views the same on both sides.
  void ExpectEqualSides() {
    std::string schema = Schema(*primary_);
    EXPECT_NE(schema.find("CREATE MATERIALIZED VIEW public.rental_by_category"), std::string::npos);
    EXPECT_EQ(schema, Schema(*secondary_));
    EXPECT_EQ(PrimaryContents(), SecondaryContents());
    EXPECT_EQ(primary_->Rows(db_, kMatviews), secondary_->Rows(db_, kMatviews));
    EXPECT_EQ(primary_->Rows(db_, kRentalByCategory), secondary_->Rows(db_, kRentalByCategory));
    EXPECT_EQ(primary_->Rows(db_, kBestCategories), secondary_->Rows(db_, kBestCategories));
  }

  // The application's writes across its tables, the partitioned one included.
  void ApplicationWrites() {
    // New films (the trigger fills their full-text column) in a new category (an ALWAYS
    // identity), with stock and actors.
    P("INSERT INTO public.category (name) VALUES ('Westerns')");
    P("INSERT INTO public.film (title, description, release_year, language_id, rating, fulltext) "
      "SELECT 'Film Late ' || i, 'A late western of a sheriff', 2024, 1, 'PG-13', '' "
      "FROM generate_series(1, 20) AS i");
    P("INSERT INTO public.film_category (film_id, category_id) SELECT film_id, "
      "(SELECT category_id FROM public.category WHERE name = 'Westerns') FROM public.film "
      "WHERE title LIKE 'Film Late %'");
    P("INSERT INTO public.inventory (film_id, store_id) SELECT film_id, 2 FROM public.film "
      "WHERE title LIKE 'Film Late %'");
    P("INSERT INTO public.film_actor (actor_id, film_id) SELECT 1 + film_id % 200, film_id "
      "FROM public.film WHERE title LIKE 'Film Late %'");
    // Returns (the trigger logs them), rentals of the new films (inventory 901 to 920) and their
    // payments in several partitions.
    P("UPDATE public.rental SET return_date = rental_date + INTERVAL '2 days' "
      "WHERE return_date IS NULL AND rental_id % 2 = 0");
    P("INSERT INTO public.rental (rental_date, inventory_id, customer_id) SELECT TIMESTAMPTZ "
      "'2022-01-15 12:00:00+00' + i * INTERVAL '5 days', 901 + i % 20, 1 + i FROM "
      "generate_series(1, 40) AS i");
    P("INSERT INTO public.payment (customer_id, rental_id, amount, payment_date) "
      "SELECT customer_id, rental_id, 7.99, rental_date + INTERVAL '1 day' FROM public.rental "
      "WHERE rental_id > 1200");
    // A payment moved between partitions (a delete in one, an insert in the other), others
    // changed or deleted in place.
    P("UPDATE public.payment SET payment_date = payment_date + INTERVAL '1 month' "
      "WHERE payment_id IN (3, 4, 5)");
    P("UPDATE public.payment SET amount = amount + 1 WHERE payment_id % 10 = 0");
    P("DELETE FROM public.payment WHERE payment_id % 25 = 0");
    P("UPDATE public.customer SET email = 'moved' || customer_id || '@example.net', activebool = "
      "false WHERE customer_id % 30 = 0");
    P("DELETE FROM public.film_actor WHERE (actor_id + film_id) % 11 = 0");
    P("UPDATE public.actor SET last_name = upper(last_name) WHERE actor_id <= 10");
    P("DELETE FROM public.rental_log WHERE log_id % 50 = 0");
  }
};

TEST_F(DbSampleTest, FullCopyOfASampleApplicationHasItsSchemaDataAndMaterializedViews) {
  LoadSample();
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->db.full);
  ExpectEqualSides();
  // Populated on the Secondary as on the Primary, the one over the other too; the view left
  // WITH NO DATA on the Primary stays so.
  EXPECT_EQ(secondary_->Rows(db_, kMatviews),
            "public.best_categories t\npublic.film_ratings f\npublic.rental_by_category t\n");
  EXPECT_EQ(secondary_->Rows(db_, "SELECT count(*) FROM public.rental_by_category"), "16\n");
  EXPECT_EQ(secondary_->Rows(db_, "SELECT count(*) FROM public.payment_default"),
            primary_->Rows(db_, "SELECT count(*) FROM public.payment_default"));
  // The full-text index answers on the Secondary.
  EXPECT_EQ(secondary_->Rows(db_,
                             "SELECT count(*) FROM public.film WHERE fulltext @@ "
                             "to_tsquery('english', 'crocodile & shark')"),
            primary_->Rows(db_,
                           "SELECT count(*) FROM public.film WHERE fulltext @@ "
                           "to_tsquery('english', 'crocodile & shark')"));
}

TEST_F(DbSampleTest, ChangesAcrossTablesAndPartitionsFollowAndTheViewsStayQueryable) {
  LoadSample();
  ASSERT_TRUE(Sync().ok());
  ApplicationWrites();
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->db.full);
  EXPECT_GT(r->db.changes, 100u);
  ExpectEqualSides();
  // A refresh on the Primary is not in the stream: a forced full copy brings its result.
  P("REFRESH MATERIALIZED VIEW public.rental_by_category");
  P("REFRESH MATERIALIZED VIEW public.best_categories");
  P("REFRESH MATERIALIZED VIEW public.film_ratings");
  EXPECT_NE(primary_->Rows(db_, kRentalByCategory), secondary_->Rows(db_, kRentalByCategory));
  r = Sync(/*full_db=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->db.full);
  ExpectEqualSides();
  EXPECT_NE(secondary_->Rows(db_, kRentalByCategory).find("Westerns|"), std::string::npos);
  EXPECT_EQ(secondary_->Rows(db_, "SELECT count(*) FROM public.film_ratings"), "5\n");
}

TEST_F(DbSampleTest, LargeObjectsAreNotReplicatedAndEachSyncSaysHowMany) {
  P("CREATE TABLE public.doc (id int PRIMARY KEY, body oid)");
  P("INSERT INTO public.doc SELECT i, lo_from_bytea(0, convert_to('page ' || i, 'UTF8')) FROM "
    "generate_series(1, 3) "
    "AS i");
  const std::string log = pair_.dir() + "/serve.log";
  auto r = pair_.Sync(nullptr, pair_.Serve("", " 2>>" + log));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  P("INSERT INTO public.doc VALUES (4, lo_from_bytea(0, 'page 4'::bytea))");
  r = pair_.Sync(nullptr, pair_.Serve("", " 2>>" + log));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // The rows (their oids) arrive, the objects they name do not.
  EXPECT_EQ(PrimaryContents(), SecondaryContents());
  EXPECT_EQ(secondary_->Rows(db_, "SELECT count(*) FROM pg_largeobject_metadata"), "0\n");
  std::string text = testing::ReadFile(log);
  EXPECT_NE(text.find("3 large objects on the Primary are not replicated"), std::string::npos)
      << text;
  EXPECT_NE(text.find("4 large objects on the Primary are not replicated"), std::string::npos)
      << text;
  size_t once = 0;
  for (size_t p = text.find("large objects on the Primary"); p != std::string::npos;
       p = text.find("large objects on the Primary", p + 1)) {
    ++once;
  }
  EXPECT_EQ(once, 2u) << "one warning per sync";
}

}  // namespace
}  // namespace hasync
