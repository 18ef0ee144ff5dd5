// Settings validation: every bad file gets one error naming the key.
#include "engine/config/settings.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

const char* kGood = R"([node]
name = "mdm-b"
state_dir = "/var/lib/hasync"
software_version = "11.12.0.0"
[ha]
enabled = true
[[files]]
name = "certs"
root = "/srv/certs/"
exclude = ["*.tmp"]
[sync]
compression = "off"
threads = 4
)";

TEST(SettingsTest, ParsesTheDesignShape) {
  auto s = ParseSettings(kGood, "t.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->node_name, "mdm-b");
  ASSERT_EQ(s->roots.size(), 1u);
  EXPECT_EQ(s->roots[0].root, "/srv/certs");
  EXPECT_EQ(s->threads, 4u);
  EXPECT_FALSE(s->database.enabled());
  EXPECT_EQ(s->owner, "id");  // the default: numeric ids, as before
  auto named = ParseSettings(std::string(kGood) + "owner = \"name\"\n", "t.toml");
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ(named->owner, "name");
}

TEST(SettingsTest, DatabaseSection) {
  auto s = ParseSettings(std::string(kGood) +
                             "[database]\nconninfo = \"host=127.0.0.1 dbname=mdm\"\n"
                             "exclude_schemas = [\"scratch\"]\nmax_slot_wal_mb = 100\n",
                         "t.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->database.enabled());
  EXPECT_EQ(s->database.exclude_schemas, std::vector<std::string>{"scratch"});
  EXPECT_EQ(s->database.max_slot_wal_mb, 100u);
  EXPECT_EQ(s->database.keyless, "copy");  // the default
  auto refuse = ParseSettings(
      std::string(kGood) + "[database]\nconninfo = \"dbname=mdm\"\nkeyless = \"refuse\"\n",
      "t.toml");
  ASSERT_TRUE(refuse.ok()) << refuse.status().ToString();
  EXPECT_EQ(refuse->database.keyless, "refuse");
}

TEST(SettingsTest, FailoverNotifyAndStatusSections) {
  auto s =
      ParseSettings(std::string(kGood) +
                        "[secondary]\nprimary = 'mdm-a'\n"
                        "[failover]\nheartbeat_interval = '2s'\nrecheck_interval = '500ms'\n"
                        "failures_before_failover = 5\nif_failure_detected = 'keep-standby'\n"
                        "witness_url = 'http://lb/status'\n"
                        "[notify]\nemail = 'ops@example.com'\nsmtp_url = 'smtp://127.0.0.1:2525'\n"
                        "on_sync_completion = true\ncommand = 'logger'\n"
                        "[status]\nlisten = '0.0.0.0:8443'\n",
                    "t.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->failover.heartbeat_interval_ms, 2000);
  EXPECT_EQ(s->failover.recheck_interval_ms, 500);
  EXPECT_EQ(s->failover.failures_before_failover, 5);
  EXPECT_FALSE(s->failover.promote);
  EXPECT_EQ(s->notify.from, "hasync@mdm-b");
  EXPECT_TRUE(s->notify.on_sync_completion);
  EXPECT_TRUE(s->notify.on_failure);
  EXPECT_EQ(s->status.listen, "0.0.0.0:8443");
  EXPECT_EQ(s->status.token, "") << "no token: the details are off";
  EXPECT_EQ(s->ha.peer, "mdm-a") << "the peer defaults to [secondary] primary";
  // The defaults DESIGN.md shows.
  auto d = ParseSettings(kGood, "t.toml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->failover.heartbeat_interval_ms, 10000);
  EXPECT_EQ(d->failover.failures_before_failover, 3);
  EXPECT_EQ(d->failover.recheck_interval_ms, 5000);
  EXPECT_TRUE(d->failover.promote);
  EXPECT_EQ(d->status.listen, "127.0.0.1:8443");
  EXPECT_EQ(d->status.lb_listen, "") << "off: the load balancer's pages are on listen only";
}

// etcd as the arbiter (issue 16): endpoints, the lease and the leader key.
TEST(SettingsTest, FailoverEtcdKeys) {
  auto s = ParseSettings(std::string(kGood) +
                             "[failover]\netcd = 'http://h1:2379, https://10.0.0.2:2379/,"
                             "http://[::1]:2379'\nlease_ttl = 12\netcd_prefix = '/mdm/'\n"
                             "cluster = 'pair-1'\npriority = 5\n",
                         "t.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->failover.etcd, (std::vector<std::string>{"http://h1:2379", "https://10.0.0.2:2379",
                                                        "http://[::1]:2379"}));
  EXPECT_EQ(s->failover.lease_ttl_s, 12);
  EXPECT_EQ(s->failover.leader_key(), "/mdm/pair-1/leader");
  EXPECT_EQ(s->failover.priority, 5);
  EXPECT_EQ(s->failover.loop_wait_ms(), 4000);
  EXPECT_EQ(s->failover.etcd_retry_ms(), 4000);
  auto d = ParseSettings(kGood, "t.toml");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->failover.etcd.empty()) << "no etcd unless configured";
  EXPECT_EQ(d->failover.lease_ttl_s, 30);
  EXPECT_EQ(d->failover.leader_key(), "/hasync/hasync/leader");
  EXPECT_EQ(d->failover.priority, 0);
  // Patroni's rule, loop_wait + 2 x retry <= ttl, for every accepted lease_ttl.
  for (int ttl = 5; ttl <= 3600; ++ttl) {
    FailoverSettings f;
    f.lease_ttl_s = ttl;
    EXPECT_LE(f.loop_wait_ms() + 2 * f.etcd_retry_ms(), ttl * 1000) << ttl;
  }
}

// The load balancer's own listener: another port, or the same port on another address.
TEST(SettingsTest, LbListenTakesItsOwnAddress) {
  for (const char* lb : {"127.0.0.1:8444", "10.0.0.1:8443"}) {
    auto s = ParseSettings(
        std::string("[node]\nname='a'\nstate_dir='/x'\n[status]\nlb_listen='") + lb + "'\n",
        "t.toml");
    ASSERT_TRUE(s.ok()) << lb << ": " << s.status().ToString();
    EXPECT_EQ(s->status.lb_listen, lb);
  }
}

struct BadCase {
  std::string text;
  std::string names;
};

TEST(SettingsTest, BadFilesNameTheKey) {
  std::vector<BadCase> cases = {
      {"[node]\nname='a'\n", "node.state_dir"},
      {"[node]\nname='a'\nstate_dir='/x'\ncolour='red'\n", "node.colour"},
      {"[node]\nname='a'\nstate_dir='relative'\n", "node.state_dir"},
      {"[nodes]\n", "nodes"},
      {"[node]\nname='a'\nstate_dir='/x'\n[[files]]\nname='a b'\nroot='/r'\n", "files[0].name"},
      {"[node]\nname='a'\nstate_dir='/x'\n[[files]]\nname='a'\nroot='r'\n", "files[0].root"},
      {"[node]\nname='a'\nstate_dir='/x'\n[[files]]\nname='a'\nroot='/"
       "r'\n[[files]]\nname='a'\nroot='/q'\n",
       "used twice"},
      {"[node]\nname='a'\nstate_dir='/x'\n[sync]\ncompression='fast'\n", "sync.compression"},
      {"[node]\nname='a'\nstate_dir='/x'\n[sync]\nthreads=-1\n", "sync.threads"},
      {"[node\n", "t.toml:1"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\ninclude_schemas=['x']\n",
       "database.conninfo"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\nschemas=['x']\n",
       "database.schemas"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\n"
       "include_schemas=['hasync']\n",
       "database.include_schemas"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\n"
       "exclude_schemas=['a; DROP']\n",
       "schema name 'a; DROP'"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\nmax_slot_wal_mb=0\n",
       "database.max_slot_wal_mb"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\n"
       "exclude_tables=['events']\n",
       "database.exclude_tables"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\nkeyless='detect'\n",
       "database.keyless"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\nheartbeat_interval='10'\n",
       "failover.heartbeat_interval"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\nrecheck_interval='1ms'\n",
       "failover.recheck_interval"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\nfailures_before_failover=0\n",
       "failover.failures_before_failover"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\nif_failure_detected='panic'\n",
       "Keep in Standby"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\nwitness_url='ftp://x'\n",
       "failover.witness_url"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\netcd='h1:2379'\n", "failover.etcd"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\netcd='http://h1'\n", "failover.etcd"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\netcd='http://h1:2379,'\n", "failover.etcd"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\netcd='http://h1:70000'\n", "failover.etcd"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\netcd='http://h1:2379/v3'\n", "failover.etcd"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\netcd='http://u:p@h1:2379'\n",
       "failover.etcd"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\netcd=['http://h1:2379']\n", "failover.etcd"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\nlease_ttl=4\n", "failover.lease_ttl"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\nlease_ttl='30s'\n", "failover.lease_ttl"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\netcd_prefix='hasync'\n",
       "failover.etcd_prefix"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\ncluster='a/b'\n", "failover.cluster"},
      {"[node]\nname='a'\nstate_dir='/x'\n[failover]\npriority=1.5\n", "failover.priority"},
      {"[node]\nname='a'\nstate_dir='/x'\n[notify]\nemail='ops'\n", "notify.email"},
      {"[node]\nname='a'\nstate_dir='/x'\n[notify]\nemail='a@b\\r\\nBcc: x@y'\n", "notify.email"},
      {"[node]\nname='a'\nstate_dir='/x'\n[notify]\nsmtp_url='http://x'\n", "notify.smtp_url"},
      {"[node]\nname='a'\nstate_dir='/x'\n[notify]\non_failure='yes'\n", "notify.on_failure"},
      {"[node]\nname='a'\nstate_dir='/x'\n[status]\nlisten='8443'\n", "status.listen"},
      {"[node]\nname='a'\nstate_dir='/x'\n[status]\nlisten='h:99999'\n", "status.listen"},
      {"[node]\nname='a'\nstate_dir='/x'\n[status]\nlb_listen='8444'\n", "status.lb_listen"},
      {"[node]\nname='a'\nstate_dir='/x'\n[status]\nlb_listen='127.0.0.1:8443'\n",
       "the load balancer's listener needs its own port"},
      {"[node]\nname='a'\nstate_dir='/x'\n[status]\nlisten='0.0.0.0:80'\nlb_listen='10.0.0.1:80'\n",
       "status.lb_listen"},
      {"[node]\nname='a'\nstate_dir='/x'\n[status]\ntls_cert='/c.pem'\n", "tls_key"},
      {"[node]\nname='a'\nstate_dir='/x'\n[status]\nport=1\n", "status.port"},
      {"[node]\nname='a'\nstate_dir='/x'\n[status]\ntoken='short'\n", "status.token"},
      {"[node]\nname='a'\nstate_dir='/x'\n[ha]\npeer='-oProxyCommand=x'\n", "ha.peer"},
      {"[node]\nname='a'\nstate_dir='/x'\n[sync]\nverify='paranoid'\n", "sync.verify"},
      {"[node]\nname='a'\nstate_dir='/x'\n[sync]\nmax_rate='100Mb'\n", "sync.max_rate"},
      {"[node]\nname='a'\nstate_dir='/x'\n[sync]\nmax_rate=-1\n", "sync.max_rate"},
      {"[node]\nname='a'\nstate_dir='/x'\n[sync]\nmax_rate=1.5\n", "sync.max_rate"},
      {"[node]\nname='a'\nstate_dir='/x'\n[sync]\nowner='uid'\n", "sync.owner"},
      {"[node]\nname='a'\nstate_dir='/x'\n[sync]\nowner=0\n", "sync.owner"},
  };
  for (const auto& c : cases) {
    auto s = ParseSettings(c.text, "t.toml");
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.status().code(), Code::kConfig);
    EXPECT_NE(s.status().message().find(c.names), std::string::npos) << s.status().message();
  }
}

// [sync] max_rate: bits are 1000-based, bytes come in both kinds, a plain number is bytes.
TEST(SettingsTest, MaxRateUnits) {
  struct {
    const char* text;
    uint64_t bytes_per_s;
  } ok[] = {{"100Mbit", 12500000},
            {"1Gbit", 125000000},
            {"64kbit", 8000},
            {"8bit", 1},
            {"12MB", 12000000},
            {"12MiB", 12582912},
            {"2KiB", 2048},
            {"3GB", 3000000000},
            {"1000", 1000},
            {"5B", 5},
            {"0", 0},
            {"0Mbit", 0}};
  for (const auto& c : ok) {
    auto r = ParseRate(c.text, "sync.max_rate");
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status().ToString();
    EXPECT_EQ(*r, c.bytes_per_s) << c.text;
  }
  for (const char* bad : {"", "Mbit", "100 Mbit", "100mb", "1.5MB", "7bit", "-5", "10MBit",
                          "100Mbit/s", "999999999999GB"}) {
    auto r = ParseRate(bad, "sync.max_rate");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kConfig) << bad;
    EXPECT_NE(r.status().message().find("sync.max_rate"), std::string::npos) << bad;
  }
  auto s = ParseSettings(std::string(kGood) + "max_rate = '50Mbit'\n", "t.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->max_rate, 6250000u);
  auto plain = ParseSettings(std::string(kGood) + "max_rate = 4096\n", "t.toml");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->max_rate, 4096u);
  auto unset = ParseSettings(kGood, "t.toml");
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(unset->max_rate, 0u);  // unlimited
}

TEST(SettingsTest, MissingFileSaysHowToPointAtOne) {
  auto s = LoadSettings("/nonexistent/hasync.toml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kNotFound);
  EXPECT_NE(s.status().message().find("--config"), std::string::npos);
}

}  // namespace
}  // namespace hasync::engine
