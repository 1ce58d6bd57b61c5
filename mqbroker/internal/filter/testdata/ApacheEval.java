// Evaluates SQL92 selectors with Apache RocketMQ's rocketmq-filter (on the classpath) to make
// mqbroker's differential golden file. Input and output lines: URL-encoded selector TAB
// URL-encoded properties (k=v&k=v); the output adds TAB and the result: PARSE_ERROR, TRUE,
// FALSE, NULL (unknown) or ERROR (an exception during evaluation).
import java.io.*;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.*;
import org.apache.rocketmq.filter.expression.*;
import org.apache.rocketmq.filter.parser.SelectorParser;

public class ApacheEval {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        for (String line; (line = in.readLine()) != null; ) {
            String[] f = line.split("\t", -1);
            String expr = URLDecoder.decode(f[0], "UTF-8");
            final Map<String, Object> props = new HashMap<>();
            if (!f[1].isEmpty()) {
                for (String kv : f[1].split("&")) {
                    String[] p = kv.split("=", 2);
                    props.put(URLDecoder.decode(p[0], "UTF-8"), URLDecoder.decode(p[1], "UTF-8"));
                }
            }
            String result;
            BooleanExpression e = null;
            try {
                e = SelectorParser.parse(expr);
            } catch (Throwable t) {
                result = "PARSE_ERROR";
                out.println(line + "\t" + result);
                continue;
            }
            try {
                Object r = e.evaluate(new EvaluationContext() {
                    public Object get(String name) { return props.get(name); }
                    public Map<String, Object> keyValues() { return props; }
                });
                if (r == null) result = "NULL";
                else if (r instanceof Boolean) result = ((Boolean) r) ? "TRUE" : "FALSE";
                else result = "OTHER";
            } catch (Throwable t) {
                result = "ERROR";
            }
            out.println(line + "\t" + result);
        }
    }
}
