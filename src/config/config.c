/* config.c - the configuration model: items, typed values, checks, accessors.
 *
 * A configuration is an ordered list of items (struct config_item), one per
 * entry given in a YAML file (config_yaml.c) or on the command line
 * (config_args.c).  Each item keeps its options in a jansson object, already
 * converted to the types config_table.c declares, so the rest of the daemon
 * never parses text.  config_finalise() then does what upstream's cmdline
 * package and the entries' Init/Prepare methods check before anything runs:
 * singletons, exclusive entries, required options, the implicit `node`,
 * defaults, connection costs, the node ID, the idle timeout, firewall rules
 * and the log level.  Every message starts with the item's "where" ("FILE:LINE"
 * or "command line") and names the entry and, when there is one, the key. */
#include "config/config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config_priv.h"
#include "core/godur.h"
#include "core/gojson.h"
#include "core/util.h"

/* Upstream's defaultMaxConnectionIdleTime: 2 x 10 s routing interval + 1 s. */
#define CONFIG_MIN_IDLE_TIMEOUT_NS (21LL * 1000000000LL)

/* ---- small helpers ---------------------------------------------------- */

int config_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void str_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* ---- table lookups ---------------------------------------------------- */

const struct config_entry_def *config_entry_lookup(const char *name, int fold_case)
{
    for (const struct config_entry_def *d = config_entries; d->name; d++) {
        if (fold_case ? strcasecmp(d->name, name) == 0 : strcmp(d->name, name) == 0)
            return d;
    }
    return NULL;
}

const struct config_option *config_option_lookup(const struct config_entry_def *def, const char *name)
{
    for (const struct config_option *o = def->options; o->name; o++)
        if (strcasecmp(o->name, name) == 0)
            return o;
    return NULL;
}

const struct config_option *config_bare_option(const struct config_entry_def *def)
{
    for (const struct config_option *o = def->options; o->name; o++)
        if (o->flags & CONFIG_BARE)
            return o;
    return NULL;
}

/* ---- items -------------------------------------------------------------- */

/* Capacity of the items array for n items: 4, 8, 16, ... */
static size_t items_capacity(size_t n)
{
    size_t c = 4;
    while (c < n)
        c *= 2;
    return c;
}

size_t config_add_item(struct config *cfg, const struct config_entry_def *def, const char *where,
                       char *err, size_t errlen)
{
    if (cfg->n >= CONFIG_MAX_ITEMS) {
        config_fail(err, errlen, "%s: too many entries (more than %u)", where, CONFIG_MAX_ITEMS);
        return CONFIG_NO_ITEM;
    }
    if (cfg->n == 0 || cfg->n == items_capacity(cfg->n)) {
        struct config_item *grown =
            realloc(cfg->items, items_capacity(cfg->n + 1) * sizeof *cfg->items);
        if (!grown) {
            config_fail(err, errlen, "%s: out of memory", where);
            return CONFIG_NO_ITEM;
        }
        cfg->items = grown;
    }
    struct config_item *it = &cfg->items[cfg->n];
    it->def = def;
    it->opts = json_object();
    it->where = strdup(where);
    if (!it->opts || !it->where) {
        json_decref(it->opts);
        free(it->where);
        config_fail(err, errlen, "%s: out of memory", where);
        return CONFIG_NO_ITEM;
    }
    return cfg->n++;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n; i++) {
        json_decref(cfg->items[i].opts);
        free(cfg->items[i].where);
    }
    free(cfg->items);
    free(cfg->config_file);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- value conversion --------------------------------------------------- */

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

/* Strips the sign and base prefix of a Go integer literal. */
static const char *int_prefix(const char *p, int *neg, unsigned *base)
{
    *neg = 0;
    if (*p == '+' || *p == '-')
        *neg = *p++ == '-';
    *base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        *base = 16;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
        *base = 8;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        *base = 2;
        p += 2;
    } else if (p[0] == '0' && p[1]) {
        *base = 8;
        p += 1;
    }
    return p;
}

int config_parse_int(const char *s, int64_t *out)
{
    int neg;
    unsigned base;
    const char *p = int_prefix(s, &neg, &base);
    if (!*p)
        return -1;
    uint64_t v = 0;
    for (; *p; p++) {
        unsigned d = (unsigned)digit_value(*p);
        if (d >= base || v > (UINT64_MAX - d) / base)
            return -1;
        v = v * base + d;
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int config_parse_float(const char *s, double *out)
{
    if (!*s || *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int config_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "1",    "t",    "T",    "true", "TRUE", "True", "y",
                                       "Y",    "yes",  "Yes",  "YES",  "on",   "On",   "ON" };
    static const char *const no[] = { "0",     "f",     "F",     "false", "FALSE", "False", "n",
                                      "N",     "no",    "No",    "NO",    "off",   "Off",   "OFF" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

const char *config_type_expectation(enum config_type type)
{
    switch (type) {
    case CONFIG_STR: return "a string";
    case CONFIG_INT: return "an integer";
    case CONFIG_FLOAT: return "a number";
    case CONFIG_BOOL: return "a boolean";
    case CONFIG_LIST: return "a list of strings";
    case CONFIG_MAP: return "a mapping of names to numbers";
    case CONFIG_JSON: return "JSON data";
    }
    return "a value";
}

static int why_got(char *why, size_t whylen, enum config_type type, const char *text)
{
    return config_fail(why, whylen, "expected %s, got \"%.80s\"", config_type_expectation(type), text);
}

/* A JSON array of strings, as the command line accepts for list options. */
static int list_from_json_text(const char *text, json_t **out, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!v || !json_is_array(v)) {
        json_decref(v);
        return config_fail(why, whylen, "expected a JSON array of strings, got \"%.80s\"", text);
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            json_decref(v);
            return config_fail(why, whylen, "list element %zu is not a string", i);
        }
    }
    *out = v;
    return 0;
}

/* A JSON object of numbers (nodecost); values become reals. */
static int map_from_json_text(const char *text, json_t **out, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *v = text[0] == '{' ? json_loads(text, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!v || !json_is_object(v)) {
        json_decref(v);
        return config_fail(why, whylen, "expected a JSON object of numbers, got \"%.80s\"", text);
    }
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) {
        if (!json_is_number(e)) {
            config_fail(why, whylen, "value for \"%.80s\" is not a number", k);
            json_decref(v);
            return -1;
        }
        if (json_object_set_new(v, k, json_real(json_number_value(e))) != 0) {
            json_decref(v);
            return config_fail(why, whylen, "out of memory");
        }
    }
    *out = v;
    return 0;
}

static json_t *json_from_text_any(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    return v ? v : json_stringn_nocheck(text, strlen(text));
}

static int scalar_from_text(const struct config_option *opt, const char *text, json_t **out,
                            char *why, size_t whylen)
{
    int64_t i;
    double f;
    int b;
    switch (opt->type) {
    case CONFIG_INT:
        if (config_parse_int(text, &i))
            return why_got(why, whylen, opt->type, text);
        *out = json_integer(i);
        break;
    case CONFIG_FLOAT:
        if (config_parse_float(text, &f))
            return why_got(why, whylen, opt->type, text);
        *out = json_real(f);
        break;
    case CONFIG_BOOL:
        if (config_parse_bool(text, &b))
            return why_got(why, whylen, opt->type, text);
        *out = json_boolean(b);
        break;
    default:
        *out = json_stringn_nocheck(text, strlen(text));
        break;
    }
    return *out ? 0 : config_fail(why, whylen, "out of memory");
}

int config_value_from_text(const struct config_option *opt, const char *text, json_t **out, char *why,
                           size_t whylen)
{
    *out = NULL;
    switch (opt->type) {
    case CONFIG_LIST:
        if (text[0] == '[')
            return list_from_json_text(text, out, why, whylen);
        *out = json_array();
        if (!*out || json_array_append_new(*out, json_stringn_nocheck(text, strlen(text)))) {
            json_decref(*out);
            *out = NULL;
            return config_fail(why, whylen, "out of memory");
        }
        return 0;
    case CONFIG_MAP:
        return map_from_json_text(text, out, why, whylen);
    case CONFIG_JSON:
        *out = json_from_text_any(text);
        return *out ? 0 : config_fail(why, whylen, "out of memory");
    default:
        return scalar_from_text(opt, text, out, why, whylen);
    }
}

/* ---- finalise: structure checks ---------------------------------------- */

/* At most one singleton item per entry can precede an error, so the inner
 * scan runs a bounded number of times: linear overall. */
static int check_singletons(const struct config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n; i++) {
        const struct config_entry_def *d = cfg->items[i].def;
        if (!(d->flags & CONFIG_SINGLETON))
            continue;
        for (size_t j = 0; j < i; j++)
            if (cfg->items[j].def == d)
                return config_fail(err, errlen, "%s: entry '%s' may appear only once",
                                   cfg->items[i].where, d->name);
    }
    return 0;
}

static const struct config_item *find_exclusive(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (cfg->items[i].def->flags & CONFIG_EXCLUSIVE)
            return &cfg->items[i];
    return NULL;
}

static int check_required(const struct config_item *it, char *err, size_t errlen)
{
    for (const struct config_option *o = it->def->options; o->name; o++)
        if ((o->flags & CONFIG_REQUIRED) && !json_object_get(it->opts, o->name))
            return config_fail(err, errlen, "%s: entry '%s': missing required key '%s'", it->where,
                               it->def->name, o->name);
    return 0;
}

static int apply_defaults(struct config_item *it, char *err, size_t errlen)
{
    for (const struct config_option *o = it->def->options; o->name; o++) {
        if (!o->def || json_object_get(it->opts, o->name))
            continue;
        json_t *v;
        char why[160];
        if (config_value_from_text(o, o->def, &v, why, sizeof why))
            return config_fail(err, errlen, "%s: entry '%s': default of key '%s': %s", it->where,
                               it->def->name, o->name, why);
        if (json_object_set_new(it->opts, o->name, v))
            return config_fail(err, errlen, "%s: out of memory", it->where);
    }
    return 0;
}

/* ---- finalise: per-entry checks ----------------------------------------- */

static int fail_key(const struct config_item *it, const char *key, char *err, size_t errlen,
                    const char *why)
{
    return config_fail(err, errlen, "%s: entry '%s': key '%s': %s", it->where, it->def->name, key,
                       why);
}

static int check_costs(const struct config_item *it, char *err, size_t errlen)
{
    json_t *cost = json_object_get(it->opts, "cost");
    if (cost && json_number_value(cost) <= 0)
        return fail_key(it, "cost", err, errlen, "connection cost must be positive");
    json_t *nodecost = json_object_get(it->opts, "nodecost");
    const char *node;
    json_t *v;
    json_object_foreach(nodecost, node, v) {
        if (json_number_value(v) <= 0) {
            char why[256];
            snprintf(why, sizeof why, "connection cost must be positive for %s", node);
            return fail_key(it, "nodecost", err, errlen, why);
        }
    }
    return 0;
}

int config_check_hostname(const char *host, char *err, size_t errlen)
{
    if (strcasecmp(host, "localhost") == 0 || strncasecmp(host, "localhost.", 10) == 0)
        return config_fail(err, errlen, "no node ID specified and local host name is localhost");
    return 0;
}

/* Fills a missing node ID from the host name, then rejects "localhost". */
static int check_node_id(struct config_item *it, char *err, size_t errlen)
{
    const char *id = config_str(it, "id");
    if (!id || !*id) {
        char host[256] = { 0 };
        char why[160];
        if (gethostname(host, sizeof host - 1) != 0)
            return fail_key(it, "id", err, errlen, "no node ID specified and no host name");
        if (config_check_hostname(host, why, sizeof why))
            return fail_key(it, "id", err, errlen, why);
        if (json_object_set_new(it->opts, "id", json_stringn_nocheck(host, strlen(host))))
            return config_fail(err, errlen, "%s: out of memory", it->where);
        id = config_str(it, "id");
    }
    if (strcasecmp(id, "localhost") == 0)
        return fail_key(it, "id", err, errlen, "node ID \"localhost\" is reserved");
    return 0;
}

static int check_idle_timeout(const struct config_item *it, char *err, size_t errlen)
{
    const char *text = config_str(it, "maxidleconnectiontimeout");
    if (!text || !*text)
        return 0;
    int64_t ns;
    char why[256];
    if (godur_parse(text, &ns, why, sizeof why))
        return fail_key(it, "maxidleconnectiontimeout", err, errlen,
                        "failed to parse MaxIdleConnectionTimeout from configuration file -- "
                        "valid examples include '1.5h', '30m', '30m10s'");
    if (ns < CONFIG_MIN_IDLE_TIMEOUT_NS) {
        snprintf(why, sizeof why,
                 "user defined maxIdleConnectionTimeout [%lld] is less than the default "
                 "default timeout [%lld]",
                 (long long)ns, (long long)CONFIG_MIN_IDLE_TIMEOUT_NS);
        return fail_key(it, "maxidleconnectiontimeout", err, errlen, why);
    }
    return 0;
}

static int rule_key_known(const char *key)
{
    static const char *const keys[] = { "action", "fromnode", "tonode", "fromservice",
                                        "toservice" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i], key) == 0)
            return 1;
    return 0;
}

/* One firewall rule -> a new object with lower-case keys and action. */
static int rule_normalise(const json_t *rule, size_t idx, json_t **out, char *why, size_t whylen)
{
    if (!json_is_object(rule))
        return config_fail(why, whylen, "rule %zu: expected a mapping", idx);
    json_t *norm = json_object();
    if (!norm)
        return config_fail(why, whylen, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)rule, key, v) {
        char lk[32];
        snprintf(lk, sizeof lk, "%s", key);
        str_lower(lk);
        const char *bad = !rule_key_known(lk) ? "unknown key"
                          : json_object_get(norm, lk) ? "duplicate key"
                          : !json_is_string(v) ? "value must be a string" : NULL;
        if (bad || json_object_set(norm, lk, v)) {
            json_decref(norm);
            return config_fail(why, whylen, "rule %zu: %s '%.80s'", idx, bad ? bad : "out of memory",
                               key);
        }
    }
    json_t *action = json_object_get(norm, "action");
    char act[16] = "";
    if (action)
        snprintf(act, sizeof act, "%s", json_string_value(action));
    str_lower(act);
    if (strcmp(act, "accept") && strcmp(act, "reject") && strcmp(act, "drop")) {
        if (action)
            config_fail(why, whylen, "rule %zu: unknown action \"%.40s\"", idx,
                        json_string_value(action));
        else
            config_fail(why, whylen, "rule %zu: missing action", idx);
        json_decref(norm);
        return -1;
    }
    if (json_object_set_new(norm, "action", json_string(act))) {
        json_decref(norm);
        return config_fail(why, whylen, "out of memory");
    }
    *out = norm;
    return 0;
}

static int check_firewall(struct config_item *it, char *err, size_t errlen)
{
    json_t *rules = json_object_get(it->opts, "firewallrules");
    if (!rules)
        return 0;
    if (!json_is_array(rules))
        return fail_key(it, "firewallrules", err, errlen, "expected a list of rules");
    json_t *norm = json_array();
    if (!norm)
        return config_fail(err, errlen, "%s: out of memory", it->where);
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule) {
        json_t *r = NULL;
        char why[256];
        if (rule_normalise(rule, i, &r, why, sizeof why) || json_array_append_new(norm, r)) {
            json_decref(norm);
            return fail_key(it, "firewallrules", err, errlen, why);
        }
    }
    if (json_object_set_new(it->opts, "firewallrules", norm))
        return config_fail(err, errlen, "%s: out of memory", it->where);
    return 0;
}

static int check_node(struct config_item *it, char *err, size_t errlen)
{
    if (check_node_id(it, err, errlen) || check_idle_timeout(it, err, errlen))
        return -1;
    return check_firewall(it, err, errlen);
}

static int check_log_level(struct config_item *it, char *err, size_t errlen)
{
    const char *lv = config_str(it, "level");
    char low[16] = "";
    if (lv)
        snprintf(low, sizeof low, "%s", lv);
    str_lower(low);
    if (strcmp(low, "error") && strcmp(low, "warning") && strcmp(low, "info") &&
        strcmp(low, "debug")) {
        char why[160];
        snprintf(why, sizeof why,
                 "unknown log level \"%.40s\" (want error, warning, info or debug)",
                 lv ? lv : "");
        return fail_key(it, "level", err, errlen, why);
    }
    if (json_object_set_new(it->opts, "level", json_string(low)))
        return config_fail(err, errlen, "%s: out of memory", it->where);
    return 0;
}

static int check_item(struct config_item *it, char *err, size_t errlen)
{
    if (check_costs(it, err, errlen))
        return -1;
    if (strcmp(it->def->name, "node") == 0)
        return check_node(it, err, errlen);
    if (strcmp(it->def->name, "log-level") == 0)
        return check_log_level(it, err, errlen);
    return 0;
}

static int add_implicit_node(struct config *cfg, char *err, size_t errlen)
{
    if (config_find(cfg, "node"))
        return 0;
    const struct config_entry_def *node = config_entry_lookup("node", 0);
    return config_add_item(cfg, node, "implicit node entry", err, errlen) == CONFIG_NO_ITEM ? -1 : 0;
}

int config_finalise(struct config *cfg, char *err, size_t errlen)
{
    if (check_singletons(cfg, err, errlen))
        return -1;
    for (size_t i = 0; i < cfg->n; i++)
        if (check_required(&cfg->items[i], err, errlen))
            return -1;
    const struct config_item *excl = find_exclusive(cfg);
    if (excl && cfg->n > 1)
        return config_fail(err, errlen, "%s: cannot specify any other options with %s", excl->where,
                           excl->def->name);
    if (!excl && add_implicit_node(cfg, err, errlen))
        return -1;
    for (size_t i = 0; i < cfg->n; i++)
        if (apply_defaults(&cfg->items[i], err, errlen) || check_item(&cfg->items[i], err, errlen))
            return -1;
    cfg->want_version = config_find(cfg, "version") != NULL;
    return 0;
}

int config_check_supported(const struct config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (cfg->items[i].def->flags & CONFIG_DEPRECATED)
            return config_fail(err, errlen,
                               "%s is not supported: it is deprecated upstream and receptor-c does not "
                               "run Python plugins (run the work as a work-command instead)",
                               cfg->items[i].def->name);
        else if (cfg->items[i].def->flags & CONFIG_NOT_YET)
            return config_fail(err, errlen, "not supported yet: %s", cfg->items[i].def->name);
    return 0;
}

/* ---- accessors ----------------------------------------------------------- */

const struct config_item *config_find(const struct config *cfg, const char *entry)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->items[i].def->name, entry) == 0)
            return &cfg->items[i];
    return NULL;
}

char *config_item_canonical(const struct config_item *item)
{
    char *opts = gojson_dumps(item->opts, GOJSON_SORT_KEYS);
    if (!opts)
        return NULL;
    char *s = util_asprintf("%s %s", item->def->name, opts);
    free(opts);
    return s;
}

static json_t *opt_value(const struct config_item *it, const char *opt)
{
    return it && it->opts ? json_object_get(it->opts, opt) : NULL;
}

const char *config_str(const struct config_item *it, const char *opt)
{
    return json_string_value(opt_value(it, opt));
}

int64_t config_int(const struct config_item *it, const char *opt, int64_t fallback)
{
    json_t *v = opt_value(it, opt);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : fallback;
}

double config_float(const struct config_item *it, const char *opt, double fallback)
{
    json_t *v = opt_value(it, opt);
    return json_is_number(v) ? json_number_value(v) : fallback;
}

int config_bool(const struct config_item *it, const char *opt, int fallback)
{
    json_t *v = opt_value(it, opt);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

json_t *config_json(const struct config_item *it, const char *opt)
{
    return opt_value(it, opt);
}
