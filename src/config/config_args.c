/* config_args.c - the receptor command line (spec 14.1), --help and
 * --bash-completion.
 *
 * Arguments are scanned left to right as upstream's ghjm/cmdline does: an
 * argument starting with '-' begins a new entry (dashes stripped, matched
 * case-insensitively); the following ones are its parameters, `key=value`
 * (key case-insensitive, split at the first '=') or a bare value.
 * `--config FILE` / `-c FILE` loads a YAML file at that position.  `-h`,
 * `--help` and `--bash-completion` stop the scan at once, as upstream.  List
 * options append on repeated keys unless the value is a JSON array; every
 * other option takes the last value given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_priv.h"

#define ARGS_WHERE "command line"

struct args_state {
    size_t cur;      /* item receiving parameters, or CONFIG_NO_ITEM */
    int want_file;   /* the previous argument was --config / -c */
};

/* ---- parameters ----------------------------------------------------------- */

static int args_fail_key(const struct config_item *it, const char *key, char *err, size_t errlen,
                         const char *why)
{
    return config_fail(err, errlen, ARGS_WHERE ": entry '%s': key '%s': %s", it->def->name, key,
                       why);
}

/* Appends text to a list option that already has values. */
static int args_list_append(struct config_item *it, const struct config_option *opt, const char *text,
                            char *err, size_t errlen)
{
    json_t *list = json_object_get(it->opts, opt->name);
    if (json_array_append_new(list, json_stringn_nocheck(text, strlen(text))))
        return args_fail_key(it, opt->name, err, errlen, "out of memory");
    return 0;
}

static int args_set(struct config_item *it, const struct config_option *opt, const char *text,
                    char *err, size_t errlen)
{
    if (opt->type == CONFIG_LIST && text[0] != '[' && json_is_array(json_object_get(it->opts, opt->name)))
        return args_list_append(it, opt, text, err, errlen);
    json_t *v;
    char why[256];
    if (config_value_from_text(opt, text, &v, why, sizeof why))
        return args_fail_key(it, opt->name, err, errlen, why);
    if (json_object_set_new(it->opts, opt->name, v))
        return args_fail_key(it, opt->name, err, errlen, "out of memory");
    return 0;
}

static int args_param(struct config_item *it, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (!eq) {
        const struct config_option *bare = config_bare_option(it->def);
        if (!bare)
            return config_fail(err, errlen,
                               ARGS_WHERE ": entry '%s': does not take a bare value (got \"%.80s\")",
                               it->def->name, arg);
        return args_set(it, bare, arg, err, errlen);
    }
    char key[128];
    size_t klen = (size_t)(eq - arg);
    const struct config_option *opt = NULL;
    if (klen < sizeof key) {
        memcpy(key, arg, klen);
        key[klen] = 0;
        opt = config_option_lookup(it->def, key);
    }
    if (!opt)
        return config_fail(err, errlen, ARGS_WHERE ": entry '%s': unknown key '%.*s'", it->def->name,
                           (int)(klen > 80 ? 80 : klen), arg);
    return args_set(it, opt, eq + 1, err, errlen);
}

/* ---- the scan -------------------------------------------------------------- */

static int args_load_file(struct config *cfg, struct args_state *st, const char *path,
                          char *err, size_t errlen)
{
    st->want_file = 0;
    st->cur = CONFIG_NO_ITEM;
    if (config_load_file(cfg, path, err, errlen))
        return -1;
    char *copy = strdup(path);
    if (!copy)
        return config_fail(err, errlen, ARGS_WHERE ": out of memory");
    free(cfg->config_file);
    cfg->config_file = copy;
    return 0;
}

static int args_entry(struct config *cfg, struct args_state *st, const char *arg, char *err,
                      size_t errlen)
{
    if (st->want_file)
        return config_fail(err, errlen, ARGS_WHERE ": --config needs a file name");
    const char *name = arg;
    while (*name == '-')
        name++;
    if (strcasecmp(name, "config") == 0 || strcasecmp(name, "c") == 0) {
        st->want_file = 1;
        st->cur = CONFIG_NO_ITEM;
        return 0;
    }
    const struct config_entry_def *def = config_entry_lookup(name, 1);
    if (!def)
        return config_fail(err, errlen, ARGS_WHERE ": unknown entry '%.80s'", name);
    st->cur = config_add_item(cfg, def, ARGS_WHERE, err, errlen);
    return st->cur == CONFIG_NO_ITEM ? -1 : 0;
}

/* One argument: 1 = stop scanning (help, completion), 0 = go on, -1 = error. */
static int args_one(struct config *cfg, struct args_state *st, const char *arg, char *err,
                    size_t errlen)
{
    if (strcasecmp(arg, "-h") == 0 || strcasecmp(arg, "--help") == 0) {
        cfg->want_help = 1;
        return 1;
    }
    if (strcasecmp(arg, "--bash-completion") == 0) {
        cfg->want_bash_completion = 1;
        return 1;
    }
    if (arg[0] == '-')
        return args_entry(cfg, st, arg, err, errlen);
    if (st->want_file)
        return args_load_file(cfg, st, arg, err, errlen);
    if (st->cur == CONFIG_NO_ITEM)
        return config_fail(err, errlen, ARGS_WHERE ": parameter specified before command (\"%.80s\")",
                           arg);
    return args_param(&cfg->items[st->cur], arg, err, errlen);
}

/* Keeps only the request flags (help, completion) of cfg. */
static void args_keep_flags(struct config *cfg)
{
    int help = cfg->want_help, completion = cfg->want_bash_completion;
    config_free(cfg);
    cfg->want_help = help;
    cfg->want_bash_completion = completion;
}

int config_parse_args(int argc, char **argv, struct config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (argc <= 1) {
        out->want_help = 1;
        return 0;
    }
    struct args_state st = { CONFIG_NO_ITEM, 0 };
    for (int i = 1; i < argc; i++) {
        int rc = args_one(out, &st, argv[i], err, errlen);
        if (rc < 0)
            goto fail;
        if (rc > 0) {
            args_keep_flags(out);
            return 0;
        }
    }
    if (st.want_file) {
        config_fail(err, errlen, ARGS_WHERE ": --config needs a file name");
        goto fail;
    }
    if (config_finalise(out, err, errlen))
        goto fail;
    return 0;
fail:
    config_free(out);
    return -1;
}

/* ---- --help ---------------------------------------------------------------- */

static const char *prog_name(const char *argv0)
{
    if (!argv0 || !*argv0)
        return "receptor";
    const char *slash = strrchr(argv0, '/');
    return slash && slash[1] ? slash + 1 : argv0;
}

static const char *help_type_name(enum config_type type)
{
    switch (type) {
    case CONFIG_STR: return "string";
    case CONFIG_INT: return "int";
    case CONFIG_FLOAT: return "float64";
    case CONFIG_BOOL: return "bool";
    case CONFIG_LIST: return "[]string (may be repeated)";
    case CONFIG_MAP: return "JSON dict of string to float64";
    case CONFIG_JSON: return "JSON data";
    }
    return "value";
}

static const char *help_section_title(enum config_section s)
{
    switch (s) {
    case CONFIG_SEC_RESOURCES: return "Commands that configure resources used by other commands:";
    case CONFIG_SEC_BACKENDS:
        return "Commands to configure back-ends, which connect Receptor nodes together:";
    case CONFIG_SEC_SERVICES: return "Commands to configure services that run on top of the Receptor mesh:";
    case CONFIG_SEC_WORKERS: return "Commands to configure workers that process units of work:";
    case CONFIG_SEC_CERTS: return "Commands to generate certificates and run a certificate authority";
    default: return NULL;
    }
}

static void help_option(const struct config_option *o, FILE *out)
{
    fprintf(out, "      %s=<%s>", o->name, help_type_name(o->type));
    if (o->help)
        fprintf(out, ": %s", o->help);
    if ((o->flags & CONFIG_REQUIRED) && o->def)
        fprintf(out, " (required, default: %s)", o->def);
    else if (o->flags & CONFIG_REQUIRED)
        fprintf(out, " (required)");
    else if (o->def)
        fprintf(out, " (default: %s)", o->def);
    fputc('\n', out);
}

static void help_entry(const struct config_entry_def *d, FILE *out)
{
    fprintf(out, "   --%s", d->name);
    if (d->help)
        fprintf(out, ": %s", d->help);
    fputc('\n', out);
    for (const struct config_option *o = d->options; o->name; o++)
        help_option(o, out);
    fputc('\n', out);
}

void config_print_help(const char *argv0, FILE *out)
{
    const char *prog = prog_name(argv0);
    fprintf(out, "Usage: %s [--<action> [<param>=<value> ...] ...]\n\n", prog);
    fprintf(out, "   --help: Show this help\n\n");
    fprintf(out, "   --config <filename>: Load additional config options from a YAML file\n\n");
    fprintf(out, "   --bash-completion: Generate a completion script for the bash shell\n");
    fprintf(out, "         Run \". <(%s --bash-completion)\" to activate now\n\n", prog);
    for (int s = CONFIG_SEC_MAIN; s < CONFIG_SEC_COUNT; s++) {
        const char *title = help_section_title((enum config_section)s);
        if (title)
            fprintf(out, "%s\n\n", title);
        for (const struct config_entry_def *d = config_entries; d->name; d++)
            if ((int)d->section == s && !(d->flags & CONFIG_HIDDEN))
                help_entry(d, out);
    }
}

/* ---- --bash-completion ------------------------------------------------------ */

void config_print_bash_completion(const char *argv0, FILE *out)
{
    const char *prog = prog_name(argv0);
    fprintf(out, "_%s()\n{\n", prog);
    fprintf(out, "  local cur prevdashed count DASHCMDS\n"
                 "  cur=${COMP_WORDS[COMP_CWORD]}\n"
                 "  count=$((COMP_CWORD-1))\n"
                 "  while [[ $count > 1 && ! ${COMP_WORDS[$count]} == --* ]]; do\n"
                 "    count=$((count-1))\n"
                 "  done\n"
                 "  prevdashed=${COMP_WORDS[$count]}\n");
    fprintf(out, "  DASHCMDS=\"--help --bash-completion --config -c");
    for (const struct config_entry_def *d = config_entries; d->name; d++)
        if (!(d->flags & CONFIG_HIDDEN))
            fprintf(out, " --%s", d->name);
    fprintf(out, "\"\n"
                 "  if [[ $cur == -* ]]; then\n"
                 "    COMPREPLY=($(compgen -W \"$DASHCMDS\" -- ${cur}))\n"
                 "  else\n"
                 "    case ${prevdashed} in\n"
                 "      -c|--config)\n"
                 "        COMPREPLY=($(compgen -f -- ${cur}))\n"
                 "        ;;\n");
    for (const struct config_entry_def *d = config_entries; d->name; d++) {
        if (d->flags & CONFIG_HIDDEN)
            continue;
        fprintf(out, "      --%s)\n        COMPREPLY=($(compgen -W \"", d->name);
        for (const struct config_option *o = d->options; o->name; o++)
            fprintf(out, "%s%s=", o == d->options ? "" : " ", o->name);
        fprintf(out, "\" -- ${cur}))\n        ;;\n");
    }
    fprintf(out, "      *)\n"
                 "        COMPREPLY=($(compgen -W \"$DASHCMDS\" -- ${cur}))\n"
                 "        ;;\n"
                 "    esac\n"
                 "  fi\n"
                 "  [[ $COMPREPLY == *= ]] && compopt -o nospace\n"
                 "}\n"
                 "complete -F _%s %s\n",
            prog, prog);
}
