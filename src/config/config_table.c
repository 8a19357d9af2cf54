/* config_table.c - the one table of Receptor's v1 configuration entries.
 *
 * Every entry upstream Receptor accepts (spec section 13) is listed here with
 * its options: name, type, default (as text, converted like command-line
 * text when applied), flags and a one-line help.  The parser, the defaults,
 * the checks, --help and --bash-completion are all driven by this table, so
 * adding an option means adding one line here.
 *
 * Entry flags: CONFIG_NOT_YET marks what the daemon cannot run yet (it stops
 * startup with "not supported yet: <entry>"; with CONFIG_DEPRECATED, with a
 * message saying it never will); everything is still parsed and validated
 * so that a configuration written for upstream is understood. */
#include "config/config.h"

#include <stddef.h>

#define OPT_END { NULL, CONFIG_STR, NULL, 0, NULL }

/* Shared by the mesh backends. */
#define OPT_COST { "cost", CONFIG_FLOAT, "1.0", 0, "Connection cost (weight)" }
#define OPT_NODECOST { "nodecost", CONFIG_MAP, NULL, 0, "Per-node costs" }
#define OPT_ALLOWEDPEERS \
    { "allowedpeers", CONFIG_LIST, NULL, 0, "Peer node IDs to allow via this connection" }
#define OPT_BINDADDR { "bindaddr", CONFIG_STR, "0.0.0.0", 0, "Local address to bind to" }
#define OPT_REDIAL { "redial", CONFIG_BOOL, "true", 0, "Keep redialing on lost connection" }

static const struct config_option node_opts[] = {
    { "id", CONFIG_STR, NULL, CONFIG_BARE, "Node ID. Defaults to the local hostname." },
    { "datadir", CONFIG_STR, "/tmp/receptor", 0, "Directory in which to store node data." },
    { "firewallrules", CONFIG_JSON, NULL, 0, "Firewall rules, see documentation for syntax." },
    { "maxidleconnectiontimeout", CONFIG_STR, NULL, 0,
      "Maximum duration with no traffic before a backend connection is timed out and "
      "refreshed." },
    { "receptorkubesupportreconnect", CONFIG_STR, NULL, 0, "Accepted; used by v2 configs only" },
    { "receptorkubeclientsetqps", CONFIG_STR, NULL, 0, "Accepted; used by v2 configs only" },
    { "receptorkubeclientsetburst", CONFIG_STR, NULL, 0, "Accepted; used by v2 configs only" },
    { "receptorkubeclientsetratelimiter", CONFIG_STR, NULL, 0, "Accepted; used by v2 configs only" },
    OPT_END,
};

static const struct config_option loglevel_opts[] = {
    { "level", CONFIG_STR, "error", CONFIG_BARE, "Log level: Error, Warning, Info or Debug" },
    OPT_END,
};

static const struct config_option no_opts[] = {
    OPT_END,
};

static const struct config_option localonly_opts[] = {
    { "local", CONFIG_BOOL, NULL, 0, "Undocumented but here to satisfy the cmdline framework" },
    OPT_END,
};

static const struct config_option tlsserver_opts[] = {
    { "name", CONFIG_STR, NULL, CONFIG_REQUIRED, "Name of this TLS server configuration" },
    { "cert", CONFIG_STR, NULL, CONFIG_REQUIRED, "Server certificate filename" },
    { "key", CONFIG_STR, NULL, CONFIG_REQUIRED, "Server private key filename" },
    { "requireclientcert", CONFIG_BOOL, "false", 0, "Require client certificates" },
    { "clientcas", CONFIG_STR, NULL, 0, "Filename of CA bundle to verify client certs with" },
    { "pinnedclientcert", CONFIG_LIST, NULL, 0,
      "Pinned fingerprint of required client certificate" },
    { "skipreceptornamescheck", CONFIG_BOOL, "false", 0,
      "Skip verifying ReceptorNames OIDs in certificate at startup" },
    { "mintls13", CONFIG_BOOL, "false", 0, "Set minimum TLS version to 1.3. Otherwise the minimum is 1.2" },
    OPT_END,
};

static const struct config_option tlsclient_opts[] = {
    { "name", CONFIG_STR, NULL, CONFIG_REQUIRED, "Name of this TLS client configuration" },
    { "cert", CONFIG_STR, NULL, CONFIG_REQUIRED, "Client certificate filename" },
    { "key", CONFIG_STR, NULL, CONFIG_REQUIRED, "Client private key filename" },
    { "rootcas", CONFIG_STR, NULL, 0, "Root CA bundle to use instead of system trust" },
    { "insecureskipverify", CONFIG_BOOL, "false", 0, "Accept any server cert" },
    { "pinnedservercert", CONFIG_LIST, NULL, 0, "Pinned fingerprint of required server certificate" },
    { "skipreceptornamescheck", CONFIG_BOOL, "false", 0,
      "Skip verifying ReceptorNames OIDs in certificate at startup" },
    { "mintls13", CONFIG_BOOL, "false", 0, "Set minimum TLS version to 1.3. Otherwise the minimum is 1.2" },
    OPT_END,
};

static const struct config_option tcplistener_opts[] = {
    OPT_BINDADDR,
    { "port", CONFIG_INT, NULL, CONFIG_REQUIRED | CONFIG_BARE, "Local TCP port to listen on" },
    { "tls", CONFIG_STR, NULL, 0, "Name of TLS server config" },
    OPT_COST,
    OPT_NODECOST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct config_option tcppeer_opts[] = {
    { "address", CONFIG_STR, NULL, CONFIG_REQUIRED | CONFIG_BARE, "Remote address (Host:Port) to connect to" },
    OPT_REDIAL,
    { "tls", CONFIG_STR, NULL, 0, "Name of TLS client config" },
    OPT_COST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct config_option udplistener_opts[] = {
    OPT_BINDADDR,
    { "port", CONFIG_INT, NULL, CONFIG_REQUIRED | CONFIG_BARE, "Local UDP port to listen on" },
    OPT_COST,
    OPT_NODECOST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct config_option udppeer_opts[] = {
    { "address", CONFIG_STR, NULL, CONFIG_REQUIRED | CONFIG_BARE, "Host:Port to connect to" },
    OPT_REDIAL,
    OPT_COST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct config_option wslistener_opts[] = {
    OPT_BINDADDR,
    { "port", CONFIG_INT, NULL, CONFIG_REQUIRED | CONFIG_BARE, "Local TCP port to run http server on" },
    { "path", CONFIG_STR, "/", 0, "URI path to the websocket server" },
    { "tls", CONFIG_STR, NULL, 0, "Name of TLS server config" },
    OPT_COST,
    OPT_NODECOST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct config_option wspeer_opts[] = {
    { "address", CONFIG_STR, NULL, CONFIG_REQUIRED | CONFIG_BARE, "URL to connect to" },
    OPT_REDIAL,
    { "extraheader", CONFIG_STR, NULL, 0, "Sends extra HTTP header on initial connection" },
    { "tls", CONFIG_STR, NULL, 0, "Name of TLS client config" },
    OPT_COST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct config_option controlsvc_opts[] = {
    { "service", CONFIG_STR, "control", 0, "Receptor service name to listen on" },
    { "filename", CONFIG_STR, NULL, 0, "Filename of local Unix socket to bind to the service" },
    { "permissions", CONFIG_INT, "0600", 0, "Socket file permissions" },
    { "tls", CONFIG_STR, NULL, 0, "Name of TLS server config for the Receptor listener" },
    { "tcplisten", CONFIG_STR, NULL, 0, "Local TCP port or host:port to bind to the control service" },
    { "tcptls", CONFIG_STR, NULL, 0, "Name of TLS server config for the TCP listener" },
    OPT_END,
};

static const struct config_option tcpserver_opts[] = {
    { "port", CONFIG_INT, NULL, CONFIG_REQUIRED, "Local TCP port to bind to" },
    OPT_BINDADDR,
    { "remotenode", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor node to connect to" },
    { "remoteservice", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor service name to connect to" },
    { "tlsserver", CONFIG_STR, NULL, 0, "Name of TLS server config for the TCP listener" },
    { "tlsclient", CONFIG_STR, NULL, 0, "Name of TLS client config for the Receptor connection" },
    OPT_END,
};

static const struct config_option tcpclient_opts[] = {
    { "service", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor service name to bind to" },
    { "address", CONFIG_STR, NULL, CONFIG_REQUIRED, "Address for outbound TCP connection" },
    { "tlsserver", CONFIG_STR, NULL, 0, "Name of TLS server config for the Receptor service" },
    { "tlsclient", CONFIG_STR, NULL, 0, "Name of TLS client config for the TCP connection" },
    OPT_END,
};

static const struct config_option udpserver_opts[] = {
    { "port", CONFIG_INT, NULL, CONFIG_REQUIRED, "Local UDP port to bind to" },
    OPT_BINDADDR,
    { "remotenode", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor node to connect to" },
    { "remoteservice", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor service name to connect to" },
    OPT_END,
};

static const struct config_option udpclient_opts[] = {
    { "service", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor service name to bind to" },
    { "address", CONFIG_STR, NULL, CONFIG_REQUIRED, "Address for outbound UDP connection" },
    OPT_END,
};

static const struct config_option unixserver_opts[] = {
    { "filename", CONFIG_STR, NULL, CONFIG_REQUIRED, "Socket filename, which will be overwritten" },
    { "permissions", CONFIG_INT, "0600", 0, "Socket file permissions" },
    { "remotenode", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor node to connect to" },
    { "remoteservice", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor service name to connect to" },
    { "tls", CONFIG_STR, NULL, 0, "Name of TLS client config for the Receptor connection" },
    OPT_END,
};

static const struct config_option unixclient_opts[] = {
    { "service", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor service name to bind to" },
    { "filename", CONFIG_STR, NULL, CONFIG_REQUIRED, "Socket filename, which must already exist" },
    { "tls", CONFIG_STR, NULL, 0, "Name of TLS server config for the Receptor connection" },
    OPT_END,
};

static const struct config_option commandsvc_opts[] = {
    { "service", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor service name to bind to" },
    { "command", CONFIG_STR, NULL, CONFIG_REQUIRED, "Command to execute on a connection" },
    { "tls", CONFIG_STR, NULL, 0, "Name of TLS server config" },
    OPT_END,
};

static const struct config_option iprouter_opts[] = {
    { "networkname", CONFIG_STR, NULL, CONFIG_REQUIRED,
      "Name of this network and service (at most 8 characters)" },
    { "interface", CONFIG_STR, NULL, 0, "Name of the local tun interface" },
    { "localnet", CONFIG_STR, NULL, CONFIG_REQUIRED, "Local /30 CIDR address" },
    { "routes", CONFIG_STR, NULL, 0, "Comma separated list of CIDR subnets to advertise" },
    OPT_END,
};

/* Not an upstream entry: receptor-c's metrics endpoint (control/metrics.h). */
static const struct config_option metrics_opts[] = {
    { "address", CONFIG_STR, "127.0.0.1", 0, "Local address to serve metrics on" },
    { "port", CONFIG_INT, "9273", 0, "Local TCP port to serve GET /metrics on" },
    OPT_END,
};

static const struct config_option workcommand_opts[] = {
    { "worktype", CONFIG_STR, NULL, CONFIG_REQUIRED, "Name for this worker type" },
    { "command", CONFIG_STR, NULL, CONFIG_REQUIRED, "Command to run to process units of work" },
    { "params", CONFIG_STR, NULL, 0, "Command-line parameters" },
    { "allowruntimeparams", CONFIG_BOOL, "false", 0, "Allow users to add more parameters" },
    { "verifysignature", CONFIG_BOOL, "false", 0, "Verify a signed work submission" },
    OPT_END,
};

static const struct config_option workkube_opts[] = {
    { "worktype", CONFIG_STR, NULL, CONFIG_REQUIRED, "Name for this worker type" },
    { "namespace", CONFIG_STR, NULL, 0, "Kubernetes namespace to create pods in" },
    { "image", CONFIG_STR, NULL, 0, "Container image to use for the worker pod" },
    { "command", CONFIG_STR, NULL, 0, "Command to run in the container (overrides entrypoint)" },
    { "params", CONFIG_STR, NULL, 0, "Command-line parameters to pass to the entrypoint" },
    { "authmethod", CONFIG_STR, "incluster", 0, "One of: kubeconfig, incluster, runtime" },
    { "kubeconfig", CONFIG_STR, NULL, 0, "Kubeconfig filename (for authmethod=kubeconfig)" },
    { "pod", CONFIG_STR, NULL, 0, "Pod definition filename, in json or yaml format" },
    { "allowruntimeauth", CONFIG_BOOL, "false", 0, "Allow passing API parameters at runtime" },
    { "allowruntimecommand", CONFIG_BOOL, "false", 0, "Allow specifying image & command at runtime" },
    { "allowruntimeparams", CONFIG_BOOL, "false", 0, "Allow adding command parameters at runtime" },
    { "allowruntimepod", CONFIG_BOOL, "false", 0, "Allow passing Pod at runtime" },
    { "deletepodonrestart", CONFIG_BOOL, "true", 0,
      "On restart, delete the pod if in pending state" },
    { "streammethod", CONFIG_STR, "logger", 0, "Method for connecting to worker pods: logger or tcp" },
    { "verifysignature", CONFIG_BOOL, "false", 0, "Verify a signed work submission" },
    OPT_END,
};

static const struct config_option workpython_opts[] = {
    { "worktype", CONFIG_STR, NULL, CONFIG_REQUIRED, "Name for this worker type" },
    { "plugin", CONFIG_STR, NULL, CONFIG_REQUIRED, "Python module name of the worker plugin" },
    { "function", CONFIG_STR, NULL, CONFIG_REQUIRED, "Receptor-exported function to call" },
    { "config", CONFIG_JSON, NULL, 0, "Plugin-specific configuration" },
    OPT_END,
};

static const struct config_option worksigning_opts[] = {
    { "privatekey", CONFIG_STR, NULL, CONFIG_BARE, "Private key to sign work submissions" },
    { "tokenexpiration", CONFIG_STR, NULL, 0,
      "Expiration of the signed json web token, e.g. 3h or 3h30m" },
    OPT_END,
};

static const struct config_option workverify_opts[] = {
    { "publickey", CONFIG_STR, NULL, CONFIG_BARE, "Public key to verify signed work submissions" },
    OPT_END,
};

static const struct config_option certinit_opts[] = {
    { "commonname", CONFIG_STR, NULL, CONFIG_REQUIRED, "Common name to assign to the certificate" },
    { "bits", CONFIG_INT, NULL, CONFIG_REQUIRED, "Bit length of the encryption keys of the certificate" },
    { "notbefore", CONFIG_STR, NULL, 0,
      "Effective (NotBefore) date/time, in RFC3339 format (default: now)" },
    { "notafter", CONFIG_STR, NULL, 0,
      "Expiration (NotAfter) date/time, in RFC3339 format (default: 10 years from now)" },
    { "outcert", CONFIG_STR, NULL, CONFIG_REQUIRED, "File to save the CA certificate to" },
    { "outkey", CONFIG_STR, NULL, CONFIG_REQUIRED, "File to save the CA private key to" },
    OPT_END,
};

static const struct config_option certmakereq_opts[] = {
    { "commonname", CONFIG_STR, NULL, CONFIG_REQUIRED, "Common name to assign to the certificate" },
    { "bits", CONFIG_INT, NULL, 0, "Bit length of the encryption keys of the certificate" },
    { "dnsname", CONFIG_LIST, NULL, 0, "DNS names to add to the certificate" },
    { "ipaddress", CONFIG_LIST, NULL, 0, "IP addresses to add to the certificate" },
    { "nodeid", CONFIG_LIST, NULL, 0, "Receptor node IDs to add to the certificate" },
    { "outreq", CONFIG_STR, NULL, CONFIG_REQUIRED, "File to save the certificate request to" },
    { "inkey", CONFIG_STR, NULL, 0, "Private key to use for the request" },
    { "outkey", CONFIG_STR, NULL, 0, "File to save the private key to (new key will be generated)" },
    OPT_END,
};

static const struct config_option certsignreq_opts[] = {
    { "req", CONFIG_STR, NULL, CONFIG_REQUIRED, "Certificate request filename" },
    { "cacert", CONFIG_STR, NULL, CONFIG_REQUIRED, "CA certificate filename" },
    { "cakey", CONFIG_STR, NULL, CONFIG_REQUIRED, "CA private key filename" },
    { "notbefore", CONFIG_STR, NULL, 0,
      "Effective (NotBefore) date/time, in RFC3339 format (default: now)" },
    { "notafter", CONFIG_STR, NULL, 0,
      "Expiration (NotAfter) date/time, in RFC3339 format (default: 1 year from now)" },
    { "outcert", CONFIG_STR, NULL, CONFIG_REQUIRED, "File to save the signed certificate to" },
    { "verify", CONFIG_BOOL, "false", 0, "If true, do not prompt the user for verification" },
    OPT_END,
};

static const struct config_option commandrunner_opts[] = {
    { "command", CONFIG_STR, NULL, CONFIG_REQUIRED, "Command to run" },
    { "params", CONFIG_STR, NULL, CONFIG_REQUIRED, "Command-line parameters" },
    { "unitdir", CONFIG_STR, NULL, CONFIG_REQUIRED, "Unit directory" },
    OPT_END,
};

#define NY CONFIG_NOT_YET
#define RL CONFIG_RELOADABLE

const struct config_entry_def config_entries[] = {
    { "node", CONFIG_SINGLETON, node_opts,
      "Specifies the node configuration of this instance", CONFIG_SEC_MAIN },
    { "log-level", CONFIG_SINGLETON, loglevel_opts, "Specifies the verbosity level for command output",
      CONFIG_SEC_MAIN },
    { "trace", CONFIG_SINGLETON | CONFIG_NO_OPTIONS, no_opts, "Enables packet tracing output",
      CONFIG_SEC_MAIN },
    { "local-only", CONFIG_SINGLETON | RL, localonly_opts,
      "Runs a self-contained node with no backend", CONFIG_SEC_MAIN },
    { "version", CONFIG_EXCLUSIVE | CONFIG_NO_OPTIONS, no_opts, "Show the Receptor version",
      CONFIG_SEC_MAIN },
    { "tls-server", 0, tlsserver_opts, "Define a TLS server configuration", CONFIG_SEC_RESOURCES },
    { "tls-client", 0, tlsclient_opts, "Define a TLS client configuration", CONFIG_SEC_RESOURCES },
    { "tcp-listener", RL, tcplistener_opts, "Run a backend listener on a TCP port",
      CONFIG_SEC_BACKENDS },
    { "tcp-peer", RL, tcppeer_opts, "Make an outbound backend connection to a TCP peer",
      CONFIG_SEC_BACKENDS },
    { "udp-listener", RL, udplistener_opts, "Run a backend listener on a UDP port",
      CONFIG_SEC_BACKENDS },
    { "udp-peer", RL, udppeer_opts, "Make an outbound backend connection to a UDP peer",
      CONFIG_SEC_BACKENDS },
    { "ws-listener", RL, wslistener_opts,
      "Run an http server that accepts websocket connections", CONFIG_SEC_BACKENDS },
    { "ws-peer", RL, wspeer_opts, "Connect outbound to a websocket peer",
      CONFIG_SEC_BACKENDS },
    { "control-service", 0, controlsvc_opts, "Runs a control service", CONFIG_SEC_SERVICES },
    { "tcp-server", 0, tcpserver_opts, "Listen for TCP and forward via Receptor",
      CONFIG_SEC_SERVICES },
    { "tcp-client", 0, tcpclient_opts, "Listen on a Receptor service and forward via TCP",
      CONFIG_SEC_SERVICES },
    { "udp-server", 0, udpserver_opts, "Listen for UDP and forward via Receptor",
      CONFIG_SEC_SERVICES },
    { "udp-client", 0, udpclient_opts, "Listen on a Receptor service and forward via UDP",
      CONFIG_SEC_SERVICES },
    { "unix-socket-server", 0, unixserver_opts, "Listen on a Unix socket and forward via Receptor",
      CONFIG_SEC_SERVICES },
    { "unix-socket-client", 0, unixclient_opts,
      "Listen via Receptor and forward to a Unix socket", CONFIG_SEC_SERVICES },
    { "command-service", 0, commandsvc_opts, "Run an interactive command via a Receptor service",
      CONFIG_SEC_SERVICES },
    { "ip-router", 0, iprouter_opts, "Run an IP router using a tun interface",
      CONFIG_SEC_SERVICES },
    { "metrics", CONFIG_SINGLETON, metrics_opts,
      "Serve Prometheus metrics over HTTP (receptor-c only)", CONFIG_SEC_SERVICES },
    { "work-command", 0, workcommand_opts, "Run a worker using an external command",
      CONFIG_SEC_WORKERS },
    { "work-kubernetes", 0, workkube_opts, "Run a worker using Kubernetes", CONFIG_SEC_WORKERS },
    { "work-python", NY | CONFIG_DEPRECATED, workpython_opts, "Run a worker using a Python plugin (deprecated)",
      CONFIG_SEC_WORKERS },
    { "work-signing", CONFIG_SINGLETON, worksigning_opts, "Private key to sign work submissions",
      CONFIG_SEC_WORKERS },
    { "work-verification", CONFIG_SINGLETON, workverify_opts,
      "Public key to verify work submissions", CONFIG_SEC_WORKERS },
    { "cert-init", CONFIG_EXCLUSIVE, certinit_opts,
      "Initialize PKI CA", CONFIG_SEC_CERTS },
    { "cert-makereq", CONFIG_EXCLUSIVE, certmakereq_opts,
      "Create certificate request", CONFIG_SEC_CERTS },
    { "cert-signreq", CONFIG_EXCLUSIVE, certsignreq_opts,
      "Sign request and produce certificate", CONFIG_SEC_CERTS },
    { "command-runner", CONFIG_HIDDEN, commandrunner_opts,
      "Wrapper around a process invocation", CONFIG_SEC_MAIN },
    { NULL, 0, NULL, NULL, CONFIG_SEC_MAIN },
};
