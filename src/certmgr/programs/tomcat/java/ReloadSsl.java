// certmgr: make a running Tomcat reload its TLS configuration, without a restart.
//
// Run with the host's own java in source-file mode (java ReloadSsl.java), as the
// user and group Tomcat runs as: HotSpot's attach listener accepts only a client
// with the target's uid and gid.
//
//   java ReloadSsl.java PID PORT[,PORT...]
//
// It attaches to the JVM PID, uses its local JMX agent (starting it if it is not
// running: the JDK's local-only connector), and invokes reloadSslHostConfigs on
// every *:type=ProtocolHandler MBean of the given ports. One line per result goes
// to stdout. Exit status, read by certmgr.programs.tomcat.jmx:
//   0   every port's ProtocolHandler reloaded
//   20  JMX unusable: could not attach, start or reach the agent (certmgr falls back)
//   21  no ProtocolHandler MBean for a port (certmgr falls back)
//   22  reloadSslHostConfigs was invoked and failed (Tomcat keeps its old context)
// Any other status (the launcher's 1: no jdk.compiler, a crash) counts as unusable.
import com.sun.tools.attach.VirtualMachine;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

public class ReloadSsl {
    static final int UNUSABLE = 20;
    static final int NO_HANDLER = 21;
    static final int FAILED = 22;
    static final String LOCAL_ADDRESS = "com.sun.management.jmxremote.localConnectorAddress";

    public static void main(String[] args) {
        if (args.length != 2) {
            System.out.println("usage: java ReloadSsl.java PID PORT[,PORT...]");
            System.exit(UNUSABLE);
        }
        String address;
        try {
            address = agentAddress(args[0]);
        } catch (Exception e) {
            System.out.println("UNUSABLE attach to pid " + args[0] + ": " + root(e));
            System.exit(UNUSABLE);
            return;
        }
        System.exit(reload(address, args[1].split(",")));
    }

    // The local connector's address, starting the local agent when it is not running.
    static String agentAddress(String pid) throws Exception {
        VirtualMachine vm = VirtualMachine.attach(pid);
        try {
            String address = vm.getAgentProperties().getProperty(LOCAL_ADDRESS);
            if (address == null) {
                address = vm.startLocalManagementAgent();
                System.out.println("AGENT started the JVM's local management agent");
            }
            return address;
        } finally {
            vm.detach();
        }
    }

    static int reload(String address, String[] ports) {
        try (JMXConnector connector = JMXConnectorFactory.connect(new JMXServiceURL(address))) {
            MBeanServerConnection server = connector.getMBeanServerConnection();
            List<ObjectName> handlers = new ArrayList<>();
            for (String port : ports) {
                // The domain is the Engine's name (Catalina by default); the name has
                // an address key too when the Connector sets one.
                Set<ObjectName> found = server.queryNames(
                        new ObjectName("*:type=ProtocolHandler,port=" + port.trim() + ",*"), null);
                if (found.isEmpty()) {
                    System.out.println("NOHANDLER no ProtocolHandler MBean for port " + port);
                    return NO_HANDLER;
                }
                handlers.addAll(found);
            }
            int status = 0;
            for (ObjectName name : handlers) {
                try {
                    server.invoke(name, "reloadSslHostConfigs", new Object[0], new String[0]);
                    System.out.println("OK " + name);
                } catch (Exception e) {
                    System.out.println("FAILED " + name + ": " + root(e));
                    status = FAILED;
                }
            }
            return status;
        } catch (Exception e) {
            System.out.println("UNUSABLE JMX at the local agent: " + root(e));
            return UNUSABLE;
        }
    }

    static String root(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String message = String.valueOf(t.getMessage()).replace('\n', ' ');
        return t.getClass().getName() + ": " + message;
    }
}
