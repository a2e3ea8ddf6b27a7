package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Java client's transactions: a KafkaProducer with a transactional.id
// (a small program compiled against the Kafka 4.2.1 client jars the tools
// ship with) commits every other transaction and aborts the rest; the
// console consumer with --isolation-level read_committed prints exactly the
// committed records, and without it every record.

const txnJavaProgram = `
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

public class TxnAbortEveryOther {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        int txns = Integer.parseInt(args[2]), perTxn = Integer.parseInt(args[3]);
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("transactional.id", "java-" + topic);
        p.put("key.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        p.put("value.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        p.put("linger.ms", "5");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            producer.initTransactions();
            for (int t = 0; t < txns; t++) {
                producer.beginTransaction();
                for (int i = 0; i < perTxn; i++) {
                    producer.send(new ProducerRecord<>(topic, "k" + i, "txn" + t + "-" + i));
                }
                // Flushed first, so the aborted records are in the log:
                // abortTransaction alone drops what is still unsent.
                producer.flush();
                if (t % 2 == 0) {
                    producer.commitTransaction();
                } else {
                    producer.abortTransaction();
                }
            }
        }
        System.out.println("produced " + txns + " transactions");
    }
}
`

// compileJava compiles src (class name class) against the Kafka tools' jars
// and returns the classpath to run it with.
func compileJava(t *testing.T, class, src string) string {
	t.Helper()
	lib := filepath.Join(filepath.Dir(kafkaToolsBin(t)), "lib")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, class+".java"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cp := lib + string(filepath.Separator) + "*"
	out, err := exec.Command("javac", "-cp", cp, "-d", dir, filepath.Join(dir, class+".java")).CombinedOutput()
	if err != nil {
		t.Fatalf("javac %s (needs a JDK 17+ on PATH): %v\n%s", class, err, out)
	}
	return dir + string(os.PathListSeparator) + cp
}

func TestTxnJavaProducerAbortsEveryOther(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	k := newKafkaTools(t, ta)
	const topic, txns, perTxn = "java-txn", 5, 4
	k.run("", "kafka-topics", "--create", "--topic", topic, "--partitions", "2")

	cp := compileJava(t, "TxnAbortEveryOther", txnJavaProgram)
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", "-Xmx256m", "-cp", cp, "TxnAbortEveryOther", ta.AdvertisedAddr(), topic, fmt.Sprint(txns), fmt.Sprint(perTxn))
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("produced %d transactions", txns)) {
		t.Fatalf("Java transactional producer: %v\n%s", err, out)
	}

	var committed, all []string
	for txn := range txns {
		for i := range perTxn {
			line := fmt.Sprintf("k%d\ttxn%d-%d", i, txn, i)
			all = append(all, line)
			if txn%2 == 0 {
				committed = append(committed, line)
			}
		}
	}
	// The aborted transactions sit between the committed ones, so a
	// consumer that showed them would print them among the first
	// len(committed) records.
	got := k.consoleConsume(len(committed), "--topic", topic, "--from-beginning", "--isolation-level", "read_committed")
	sameLines(t, "read_committed console consumer", got, committed)
	got = k.consoleConsume(len(all), "--topic", topic, "--from-beginning")
	sameLines(t, "read_uncommitted console consumer", got, all)
}
