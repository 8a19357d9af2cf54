/* config_table.c - the one table of Receptor's v1 configuration entries.
 *
 * Every entry upstream Receptor accepts (spec section 13) is listed here with
 * its options: name, type, default (as text, converted like command-line
 * text when applied), flags and a one-line help.  The parser, the defaults,
 * the checks, --help and --bash-completion are all driven by this table, so
 * adding an option means adding one line here.
 *
 * Entry flags: CFG_NOT_YET marks what the daemon cannot run yet (it stops
 * startup with "not supported yet: <entry>"; with CFG_DEPRECATED, with a
 * message saying it never will); everything is still parsed and validated
 * so that a configuration written for upstream is understood. */
#include "config/config.h"

#include <stddef.h>

#define OPT_END { NULL, CFG_STR, NULL, 0, NULL }

/* Shared by the mesh backends. */
#define OPT_COST { "cost", CFG_FLOAT, "1.0", 0, "Connection cost (weight)" }
#define OPT_NODECOST { "nodecost", CFG_MAP, NULL, 0, "Per-node costs" }
#define OPT_ALLOWEDPEERS \
    { "allowedpeers", CFG_LIST, NULL, 0, "Peer node IDs to allow via this connection" }
#define OPT_BINDADDR { "bindaddr", CFG_STR, "0.0.0.0", 0, "Local address to bind to" }
#define OPT_REDIAL { "redial", CFG_BOOL, "true", 0, "Keep redialing on lost connection" }

static const struct cfg_option node_opts[] = {
    { "id", CFG_STR, NULL, CFG_BARE, "Node ID. Defaults to the local hostname." },
    { "datadir", CFG_STR, "/tmp/receptor", 0, "Directory in which to store node data." },
    { "firewallrules", CFG_JSON, NULL, 0, "Firewall rules, see documentation for syntax." },
    { "maxidleconnectiontimeout", CFG_STR, NULL, 0,
      "Maximum duration with no traffic before a backend connection is timed out and "
      "refreshed." },
    { "receptorkubesupportreconnect", CFG_STR, NULL, 0, "Accepted; used by v2 configs only" },
    { "receptorkubeclientsetqps", CFG_STR, NULL, 0, "Accepted; used by v2 configs only" },
    { "receptorkubeclientsetburst", CFG_STR, NULL, 0, "Accepted; used by v2 configs only" },
    { "receptorkubeclientsetratelimiter", CFG_STR, NULL, 0, "Accepted; used by v2 configs only" },
    OPT_END,
};

static const struct cfg_option loglevel_opts[] = {
    { "level", CFG_STR, "error", CFG_BARE, "Log level: Error, Warning, Info or Debug" },
    OPT_END,
};

static const struct cfg_option no_opts[] = {
    OPT_END,
};

static const struct cfg_option localonly_opts[] = {
    { "local", CFG_BOOL, NULL, 0, "Undocumented but here to satisfy the cmdline framework" },
    OPT_END,
};

static const struct cfg_option tlsserver_opts[] = {
    { "name", CFG_STR, NULL, CFG_REQUIRED, "Name of this TLS server configuration" },
    { "cert", CFG_STR, NULL, CFG_REQUIRED, "Server certificate filename" },
    { "key", CFG_STR, NULL, CFG_REQUIRED, "Server private key filename" },
    { "requireclientcert", CFG_BOOL, "false", 0, "Require client certificates" },
    { "clientcas", CFG_STR, NULL, 0, "Filename of CA bundle to verify client certs with" },
    { "pinnedclientcert", CFG_LIST, NULL, 0,
      "Pinned fingerprint of required client certificate" },
    { "skipreceptornamescheck", CFG_BOOL, "false", 0,
      "Skip verifying ReceptorNames OIDs in certificate at startup" },
    { "mintls13", CFG_BOOL, "false", 0, "Set minimum TLS version to 1.3. Otherwise the minimum is 1.2" },
    OPT_END,
};

static const struct cfg_option tlsclient_opts[] = {
    { "name", CFG_STR, NULL, CFG_REQUIRED, "Name of this TLS client configuration" },
    { "cert", CFG_STR, NULL, CFG_REQUIRED, "Client certificate filename" },
    { "key", CFG_STR, NULL, CFG_REQUIRED, "Client private key filename" },
    { "rootcas", CFG_STR, NULL, 0, "Root CA bundle to use instead of system trust" },
    { "insecureskipverify", CFG_BOOL, "false", 0, "Accept any server cert" },
    { "pinnedservercert", CFG_LIST, NULL, 0, "Pinned fingerprint of required server certificate" },
    { "skipreceptornamescheck", CFG_BOOL, "false", 0,
      "Skip verifying ReceptorNames OIDs in certificate at startup" },
    { "mintls13", CFG_BOOL, "false", 0, "Set minimum TLS version to 1.3. Otherwise the minimum is 1.2" },
    OPT_END,
};

static const struct cfg_option tcplistener_opts[] = {
    OPT_BINDADDR,
    { "port", CFG_INT, NULL, CFG_REQUIRED | CFG_BARE, "Local TCP port to listen on" },
    { "tls", CFG_STR, NULL, 0, "Name of TLS server config" },
    OPT_COST,
    OPT_NODECOST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct cfg_option tcppeer_opts[] = {
    { "address", CFG_STR, NULL, CFG_REQUIRED | CFG_BARE, "Remote address (Host:Port) to connect to" },
    OPT_REDIAL,
    { "tls", CFG_STR, NULL, 0, "Name of TLS client config" },
    OPT_COST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct cfg_option udplistener_opts[] = {
    OPT_BINDADDR,
    { "port", CFG_INT, NULL, CFG_REQUIRED | CFG_BARE, "Local UDP port to listen on" },
    OPT_COST,
    OPT_NODECOST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct cfg_option udppeer_opts[] = {
    { "address", CFG_STR, NULL, CFG_REQUIRED | CFG_BARE, "Host:Port to connect to" },
    OPT_REDIAL,
    OPT_COST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct cfg_option wslistener_opts[] = {
    OPT_BINDADDR,
    { "port", CFG_INT, NULL, CFG_REQUIRED | CFG_BARE, "Local TCP port to run http server on" },
    { "path", CFG_STR, "/", 0, "URI path to the websocket server" },
    { "tls", CFG_STR, NULL, 0, "Name of TLS server config" },
    OPT_COST,
    OPT_NODECOST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct cfg_option wspeer_opts[] = {
    { "address", CFG_STR, NULL, CFG_REQUIRED | CFG_BARE, "URL to connect to" },
    OPT_REDIAL,
    { "extraheader", CFG_STR, NULL, 0, "Sends extra HTTP header on initial connection" },
    { "tls", CFG_STR, NULL, 0, "Name of TLS client config" },
    OPT_COST,
    OPT_ALLOWEDPEERS,
    OPT_END,
};

static const struct cfg_option controlsvc_opts[] = {
    { "service", CFG_STR, "control", 0, "Receptor service name to listen on" },
    { "filename", CFG_STR, NULL, 0, "Filename of local Unix socket to bind to the service" },
    { "permissions", CFG_INT, "0600", 0, "Socket file permissions" },
    { "tls", CFG_STR, NULL, 0, "Name of TLS server config for the Receptor listener" },
    { "tcplisten", CFG_STR, NULL, 0, "Local TCP port or host:port to bind to the control service" },
    { "tcptls", CFG_STR, NULL, 0, "Name of TLS server config for the TCP listener" },
    OPT_END,
};

static const struct cfg_option tcpserver_opts[] = {
    { "port", CFG_INT, NULL, CFG_REQUIRED, "Local TCP port to bind to" },
    OPT_BINDADDR,
    { "remotenode", CFG_STR, NULL, CFG_REQUIRED, "Receptor node to connect to" },
    { "remoteservice", CFG_STR, NULL, CFG_REQUIRED, "Receptor service name to connect to" },
    { "tlsserver", CFG_STR, NULL, 0, "Name of TLS server config for the TCP listener" },
    { "tlsclient", CFG_STR, NULL, 0, "Name of TLS client config for the Receptor connection" },
    OPT_END,
};

static const struct cfg_option tcpclient_opts[] = {
    { "service", CFG_STR, NULL, CFG_REQUIRED, "Receptor service name to bind to" },
    { "address", CFG_STR, NULL, CFG_REQUIRED, "Address for outbound TCP connection" },
    { "tlsserver", CFG_STR, NULL, 0, "Name of TLS server config for the Receptor service" },
    { "tlsclient", CFG_STR, NULL, 0, "Name of TLS client config for the TCP connection" },
    OPT_END,
};

static const struct cfg_option udpserver_opts[] = {
    { "port", CFG_INT, NULL, CFG_REQUIRED, "Local UDP port to bind to" },
    OPT_BINDADDR,
    { "remotenode", CFG_STR, NULL, CFG_REQUIRED, "Receptor node to connect to" },
    { "remoteservice", CFG_STR, NULL, CFG_REQUIRED, "Receptor service name to connect to" },
    OPT_END,
};

static const struct cfg_option udpclient_opts[] = {
    { "service", CFG_STR, NULL, CFG_REQUIRED, "Receptor service name to bind to" },
    { "address", CFG_STR, NULL, CFG_REQUIRED, "Address for outbound UDP connection" },
    OPT_END,
};

static const struct cfg_option unixserver_opts[] = {
    { "filename", CFG_STR, NULL, CFG_REQUIRED, "Socket filename, which will be overwritten" },
    { "permissions", CFG_INT, "0600", 0, "Socket file permissions" },
    { "remotenode", CFG_STR, NULL, CFG_REQUIRED, "Receptor node to connect to" },
    { "remoteservice", CFG_STR, NULL, CFG_REQUIRED, "Receptor service name to connect to" },
    { "tls", CFG_STR, NULL, 0, "Name of TLS client config for the Receptor connection" },
    OPT_END,
};

static const struct cfg_option unixclient_opts[] = {
    { "service", CFG_STR, NULL, CFG_REQUIRED, "Receptor service name to bind to" },
    { "filename", CFG_STR, NULL, CFG_REQUIRED, "Socket filename, which must already exist" },
    { "tls", CFG_STR, NULL, 0, "Name of TLS server config for the Receptor connection" },
    OPT_END,
};

static const struct cfg_option commandsvc_opts[] = {
    { "service", CFG_STR, NULL, CFG_REQUIRED, "Receptor service name to bind to" },
    { "command", CFG_STR, NULL, CFG_REQUIRED, "Command to execute on a connection" },
    { "tls", CFG_STR, NULL, 0, "Name of TLS server config" },
    OPT_END,
};

static const struct cfg_option iprouter_opts[] = {
    { "networkname", CFG_STR, NULL, CFG_REQUIRED,
      "Name of this network and service (at most 8 characters)" },
    { "interface", CFG_STR, NULL, 0, "Name of the local tun interface" },
    { "localnet", CFG_STR, NULL, CFG_REQUIRED, "Local /30 CIDR address" },
    { "routes", CFG_STR, NULL, 0, "Comma separated list of CIDR subnets to advertise" },
    OPT_END,
};

/* Not an upstream entry: receptor-c's metrics endpoint (control/metrics.h). */
static const struct cfg_option metrics_opts[] = {
    { "address", CFG_STR, "127.0.0.1", 0, "Local address to serve metrics on" },
    { "port", CFG_INT, "9273", 0, "Local TCP port to serve GET /metrics on" },
    OPT_END,
};

static const struct cfg_option workcommand_opts[] = {
    { "worktype", CFG_STR, NULL, CFG_REQUIRED, "Name for this worker type" },
    { "command", CFG_STR, NULL, CFG_REQUIRED, "Command to run to process units of work" },
    { "params", CFG_STR, NULL, 0, "Command-line parameters" },
    { "allowruntimeparams", CFG_BOOL, "false", 0, "Allow users to add more parameters" },
    { "verifysignature", CFG_BOOL, "false", 0, "Verify a signed work submission" },
    OPT_END,
};

static const struct cfg_option workkube_opts[] = {
    { "worktype", CFG_STR, NULL, CFG_REQUIRED, "Name for this worker type" },
    { "namespace", CFG_STR, NULL, 0, "Kubernetes namespace to create pods in" },
    { "image", CFG_STR, NULL, 0, "Container image to use for the worker pod" },
    { "command", CFG_STR, NULL, 0, "Command to run in the container (overrides entrypoint)" },
    { "params", CFG_STR, NULL, 0, "Command-line parameters to pass to the entrypoint" },
    { "authmethod", CFG_STR, "incluster", 0, "One of: kubeconfig, incluster, runtime" },
    { "kubeconfig", CFG_STR, NULL, 0, "Kubeconfig filename (for authmethod=kubeconfig)" },
    { "pod", CFG_STR, NULL, 0, "Pod definition filename, in json or yaml format" },
    { "allowruntimeauth", CFG_BOOL, "false", 0, "Allow passing API parameters at runtime" },
    { "allowruntimecommand", CFG_BOOL, "false", 0, "Allow specifying image & command at runtime" },
    { "allowruntimeparams", CFG_BOOL, "false", 0, "Allow adding command parameters at runtime" },
    { "allowruntimepod", CFG_BOOL, "false", 0, "Allow passing Pod at runtime" },
    { "deletepodonrestart", CFG_BOOL, "true", 0,
      "On restart, delete the pod if in pending state" },
    { "streammethod", CFG_STR, "logger", 0, "Method for connecting to worker pods: logger or tcp" },
    { "verifysignature", CFG_BOOL, "false", 0, "Verify a signed work submission" },
    OPT_END,
};

static const struct cfg_option workpython_opts[] = {
    { "worktype", CFG_STR, NULL, CFG_REQUIRED, "Name for this worker type" },
    { "plugin", CFG_STR, NULL, CFG_REQUIRED, "Python module name of the worker plugin" },
    { "function", CFG_STR, NULL, CFG_REQUIRED, "Receptor-exported function to call" },
    { "config", CFG_JSON, NULL, 0, "Plugin-specific configuration" },
    OPT_END,
};

static const struct cfg_option worksigning_opts[] = {
    { "privatekey", CFG_STR, NULL, CFG_BARE, "Private key to sign work submissions" },
    { "tokenexpiration", CFG_STR, NULL, 0,
      "Expiration of the signed json web token, e.g. 3h or 3h30m" },
    OPT_END,
};

static const struct cfg_option workverify_opts[] = {
    { "publickey", CFG_STR, NULL, CFG_BARE, "Public key to verify signed work submissions" },
    OPT_END,
};

static const struct cfg_option certinit_opts[] = {
    { "commonname", CFG_STR, NULL, CFG_REQUIRED, "Common name to assign to the certificate" },
    { "bits", CFG_INT, NULL, CFG_REQUIRED, "Bit length of the encryption keys of the certificate" },
    { "notbefore", CFG_STR, NULL, 0,
      "Effective (NotBefore) date/time, in RFC3339 format (default: now)" },
    { "notafter", CFG_STR, NULL, 0,
      "Expiration (NotAfter) date/time, in RFC3339 format (default: 10 years from now)" },
    { "outcert", CFG_STR, NULL, CFG_REQUIRED, "File to save the CA certificate to" },
    { "outkey", CFG_STR, NULL, CFG_REQUIRED, "File to save the CA private key to" },
    OPT_END,
};

static const struct cfg_option certmakereq_opts[] = {
    { "commonname", CFG_STR, NULL, CFG_REQUIRED, "Common name to assign to the certificate" },
    { "bits", CFG_INT, NULL, 0, "Bit length of the encryption keys of the certificate" },
    { "dnsname", CFG_LIST, NULL, 0, "DNS names to add to the certificate" },
    { "ipaddress", CFG_LIST, NULL, 0, "IP addresses to add to the certificate" },
    { "nodeid", CFG_LIST, NULL, 0, "Receptor node IDs to add to the certificate" },
    { "outreq", CFG_STR, NULL, CFG_REQUIRED, "File to save the certificate request to" },
    { "inkey", CFG_STR, NULL, 0, "Private key to use for the request" },
    { "outkey", CFG_STR, NULL, 0, "File to save the private key to (new key will be generated)" },
    OPT_END,
};

static const struct cfg_option certsignreq_opts[] = {
    { "req", CFG_STR, NULL, CFG_REQUIRED, "Certificate request filename" },
    { "cacert", CFG_STR, NULL, CFG_REQUIRED, "CA certificate filename" },
    { "cakey", CFG_STR, NULL, CFG_REQUIRED, "CA private key filename" },
    { "notbefore", CFG_STR, NULL, 0,
      "Effective (NotBefore) date/time, in RFC3339 format (default: now)" },
    { "notafter", CFG_STR, NULL, 0,
      "Expiration (NotAfter) date/time, in RFC3339 format (default: 1 year from now)" },
    { "outcert", CFG_STR, NULL, CFG_REQUIRED, "File to save the signed certificate to" },
    { "verify", CFG_BOOL, "false", 0, "If true, do not prompt the user for verification" },
    OPT_END,
};

static const struct cfg_option commandrunner_opts[] = {
    { "command", CFG_STR, NULL, CFG_REQUIRED, "Command to run" },
    { "params", CFG_STR, NULL, CFG_REQUIRED, "Command-line parameters" },
    { "unitdir", CFG_STR, NULL, CFG_REQUIRED, "Unit directory" },
    OPT_END,
};

#define NY CFG_NOT_YET
#define RL CFG_RELOADABLE

const struct cfg_entry_def config_entries[] = {
    { "node", CFG_SINGLETON, node_opts,
      "Specifies the node configuration of this instance", CFG_SEC_MAIN },
    { "log-level", CFG_SINGLETON, loglevel_opts, "Specifies the verbosity level for command output",
      CFG_SEC_MAIN },
    { "trace", CFG_SINGLETON | CFG_NO_OPTIONS, no_opts, "Enables packet tracing output",
      CFG_SEC_MAIN },
    { "local-only", CFG_SINGLETON | RL, localonly_opts,
      "Runs a self-contained node with no backend", CFG_SEC_MAIN },
    { "version", CFG_EXCLUSIVE | CFG_NO_OPTIONS, no_opts, "Show the Receptor version",
      CFG_SEC_MAIN },
    { "tls-server", 0, tlsserver_opts, "Define a TLS server configuration", CFG_SEC_RESOURCES },
    { "tls-client", 0, tlsclient_opts, "Define a TLS client configuration", CFG_SEC_RESOURCES },
    { "tcp-listener", RL, tcplistener_opts, "Run a backend listener on a TCP port",
      CFG_SEC_BACKENDS },
    { "tcp-peer", RL, tcppeer_opts, "Make an outbound backend connection to a TCP peer",
      CFG_SEC_BACKENDS },
    { "udp-listener", RL, udplistener_opts, "Run a backend listener on a UDP port",
      CFG_SEC_BACKENDS },
    { "udp-peer", RL, udppeer_opts, "Make an outbound backend connection to a UDP peer",
      CFG_SEC_BACKENDS },
    { "ws-listener", RL, wslistener_opts,
      "Run an http server that accepts websocket connections", CFG_SEC_BACKENDS },
    { "ws-peer", RL, wspeer_opts, "Connect outbound to a websocket peer",
      CFG_SEC_BACKENDS },
    { "control-service", 0, controlsvc_opts, "Runs a control service", CFG_SEC_SERVICES },
    { "tcp-server", 0, tcpserver_opts, "Listen for TCP and forward via Receptor",
      CFG_SEC_SERVICES },
    { "tcp-client", 0, tcpclient_opts, "Listen on a Receptor service and forward via TCP",
      CFG_SEC_SERVICES },
    { "udp-server", 0, udpserver_opts, "Listen for UDP and forward via Receptor",
      CFG_SEC_SERVICES },
    { "udp-client", 0, udpclient_opts, "Listen on a Receptor service and forward via UDP",
      CFG_SEC_SERVICES },
    { "unix-socket-server", 0, unixserver_opts, "Listen on a Unix socket and forward via Receptor",
      CFG_SEC_SERVICES },
    { "unix-socket-client", 0, unixclient_opts,
      "Listen via Receptor and forward to a Unix socket", CFG_SEC_SERVICES },
    { "command-service", 0, commandsvc_opts, "Run an interactive command via a Receptor service",
      CFG_SEC_SERVICES },
    { "ip-router", 0, iprouter_opts, "Run an IP router using a tun interface",
      CFG_SEC_SERVICES },
    { "metrics", CFG_SINGLETON, metrics_opts,
      "Serve Prometheus metrics over HTTP (receptor-c only)", CFG_SEC_SERVICES },
    { "work-command", 0, workcommand_opts, "Run a worker using an external command",
      CFG_SEC_WORKERS },
    { "work-kubernetes", 0, workkube_opts, "Run a worker using Kubernetes", CFG_SEC_WORKERS },
    { "work-python", NY | CFG_DEPRECATED, workpython_opts, "Run a worker using a Python plugin (deprecated)",
      CFG_SEC_WORKERS },
    { "work-signing", CFG_SINGLETON, worksigning_opts, "Private key to sign work submissions",
      CFG_SEC_WORKERS },
    { "work-verification", CFG_SINGLETON, workverify_opts,
      "Public key to verify work submissions", CFG_SEC_WORKERS },
    { "cert-init", CFG_EXCLUSIVE, certinit_opts,
      "Initialize PKI CA", CFG_SEC_CERTS },
    { "cert-makereq", CFG_EXCLUSIVE, certmakereq_opts,
      "Create certificate request", CFG_SEC_CERTS },
    { "cert-signreq", CFG_EXCLUSIVE, certsignreq_opts,
      "Sign request and produce certificate", CFG_SEC_CERTS },
    { "command-runner", CFG_HIDDEN, commandrunner_opts,
      "Wrapper around a process invocation", CFG_SEC_MAIN },
    { NULL, 0, NULL, NULL, CFG_SEC_MAIN },
};
