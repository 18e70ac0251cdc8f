#!/usr/bin/env bash
# lloop-test: engine-independent
# The man page (docs/lloop.1.scd, built with scdoc, rendered with man -l)
# and the binary's --help texts name the same options: every long option
# that 'lloop X --help' lists is an entry of a man page section "... X ...
# OPTIONS", every entry of such a section is in the --help of each command
# it names, and every --option the page's prose mentions exists.  The
# short options too: every "-X, --long" pair of a --help is the page's
# entry "-X, --long" in that command's sections, and the other way round
# (-h and -V of 'lloop --help' in GENERAL OPTIONS).  Then the checker is
# run on broken copies of the page (an option removed, an option
# invented, a short option changed, a short option dropped) and must fail
# on each: a check that cannot fail is no check.
. "$(dirname "$0")/../interop/lib.sh"
describe "the man page and every command's --help list the same options"
need scdoc man col
need_lloop
SCD=$REPO/docs/lloop.1.scd
[ -f "$SCD" ] || fail "no $SCD"

render() { # SCD OUT: the page as an administrator reads it, in plain text
	scdoc <"$1" >"$T/page.1" || fail "scdoc rejects $1"
	# no pager, ASCII dashes, no hyphenation, no bold/underline overstrike
	LC_ALL=C MANWIDTH=200 MANPAGER=cat PAGER=cat MAN_DISABLE_SECCOMP=1 \
		MANROFFOPT=-rHY=0 man -l "$T/page.1" 2>"$T/man.err" | col -bx >"$2"
	[ -s "$2" ] || fail "man -l rendered nothing: $(cat "$T/man.err")"
}

# the --help texts: lloop's own, and each command's
"$LLOOP" --help >"$T/help.lloop" || fail "lloop --help exited non-zero"
mapfile -t cmds < <(awk '/^Commands:/ { on = 1; next } on && /^$/ { exit }
	on && $1 ~ /^[a-z]+$/ && $1 != "help" { print $1 }' "$T/help.lloop")
[ "${#cmds[@]}" -ge 5 ] || fail "found only ${#cmds[@]} commands in lloop --help"
for c in "${cmds[@]}"; do
	"$LLOOP" "$c" --help >"$T/help.$c" 2>"$T/help.$c.err" ||
		fail "lloop $c --help exited non-zero: $(cat "$T/help.$c.err")"
done

cat >"$T/check.py" <<'PY'
import re, sys, os

page_file, helpdir = sys.argv[1], sys.argv[2]
cmds = sys.argv[3:]
OPT = re.compile(r"--[a-z][a-z0-9-]*[a-z0-9]")

text = open(page_file).read()
# a line broken after an explicit hyphen: join the word again
text = re.sub(r"(?<=[a-z0-9])-\n\s+", "-", text)

# sections (headings at column 0) and the option entries in each: a
# line indented 7 that starts with an option ("-l, --listen URI")
sections, name = {}, None
ENTRY = re.compile(r"^ {7}(?:(-[A-Za-z]), )?(--[a-z][a-z0-9-]*)")
for line in text.splitlines():
    if re.match(r"^[A-Z][A-Z &]+$", line):
        name = line.strip()
        sections[name] = {"entries": set(), "prose": set(), "pairs": set()}
        continue
    if name is None:
        continue
    m = ENTRY.match(line)
    if m:
        sections[name]["entries"].add(m.group(2))
        # (short or None, long): an entry without a short has none
        sections[name]["pairs"].add((m.group(1), m.group(2)))
    sections[name]["prose"].update(OPT.findall(line))

helps = {c: open(os.path.join(helpdir, "help." + c)).read() for c in cmds}
top = open(os.path.join(helpdir, "help.lloop")).read()
help_opts = {c: set(OPT.findall(h)) for c, h in helps.items()}
all_help = set(OPT.findall(top)).union(*help_opts.values())

errors = []
def err(s):
    errors.append(s)

for need in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS",
             "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"):
    if need not in sections:
        err("the page has no section %s" % need)

# which commands an OPTIONS section is for: the command names in its title
def section_cmds(title):
    words = title.lower().split()
    return [c for c in cmds if c in words]

opt_sections = {t: section_cmds(t) for t in sections if t.endswith("OPTIONS")}
checked = 0
for c in cmds:
    mine = set()
    for t, cs in opt_sections.items():
        if c in cs:
            mine |= sections[t]["entries"]
    for o in sorted(help_opts[c] - {"--help"}):
        checked += 1
        if o not in mine:
            err("'lloop %s --help' lists %s; no %s OPTIONS section of the "
                "man page has an entry for it" % (c, o, c.upper()))
for t, cs in opt_sections.items():
    for o in sorted(sections[t]["entries"]):
        checked += 1
        if not cs:
            if o not in set(OPT.findall(top)):
                err("%s: %s is not in 'lloop --help'" % (t, o))
        for c in cs:
            if o not in help_opts[c]:
                err("man page section %s: %s is not in 'lloop %s --help'"
                    % (t, o, c))
for o in ("--help", "--version"):
    if o not in sections.get("GENERAL OPTIONS", {}).get("entries", ()):
        err("GENERAL OPTIONS has no entry %s" % o)

# short options: "-X, --long" at the start of a --help line
PAIR = re.compile(r"^\s+(-[A-Za-z]), (--[a-z][a-z0-9-]*)", re.M)
def help_pairs(h):
    return set(PAIR.findall(h))
def page_shorts(titles):
    shorts = {}
    for t in titles:
        for s, l in sections[t]["pairs"]:
            shorts.setdefault(l, set()).add(s)
    return shorts
pairs_checked = 0
def compare_shorts(what, hp, long_opts, titles):
    global pairs_checked
    shorts = page_shorts(titles)
    for s, l in sorted(hp):
        pairs_checked += 1
        if l in shorts and shorts[l] != {s}:
            err("'%s' gives %s, %s; the man page's entry for %s has %s"
                % (what, s, l, l, ", ".join(sorted(x or "no short option"
                                                    for x in shorts[l]))))
    hshort = dict((l, s) for s, l in hp)
    for l, ss in sorted(shorts.items()):
        for s in sorted(x for x in ss if x):
            pairs_checked += 1
            if l in long_opts and hshort.get(l) != s:
                err("the man page gives %s, %s (%s); '%s' %s"
                    % (s, l, ", ".join(titles), what,
                       "gives %s" % hshort[l] if l in hshort
                       else "has no short option for it"))
for c in cmds:
    hp = help_pairs(helps[c])
    # --help is GENERAL OPTIONS' entry, -h there; not every --help lists it
    for s, l in sorted(hp):
        if l == "--help" and s != "-h":
            err("'lloop %s --help' gives %s for --help, the page -h" % (c, s))
    hp = set(p for p in hp if p[1] != "--help")
    mine = [t for t, cs in opt_sections.items() if c in cs]
    compare_shorts("lloop %s --help" % c, hp, help_opts[c] - {"--help"}, mine)
compare_shorts("lloop --help", help_pairs(top), set(OPT.findall(top)),
               ["GENERAL OPTIONS"] if "GENERAL OPTIONS" in sections else [])
if pairs_checked < 8:
    err("only %d short options checked: the -X, --long pairs were not "
        "parsed" % pairs_checked)

# prose: every option mentioned (examples and other programs aside)
for t, s in sections.items():
    if t in ("EXAMPLES", "SEE ALSO"):
        continue
    for o in sorted(s["prose"] - all_help):
        err("section %s mentions %s, which no --help lists" % (t, o))

# every command has its synopsis line and its entry under COMMANDS
syn = "\n".join(l for l in text.split("\nDESCRIPTION")[0].splitlines())
for c in cmds:
    if not re.search(r"^\s+lloop %s\b" % c, syn, re.M):
        err("SYNOPSIS has no 'lloop %s'" % c)
    if not re.search(r"^ {7}%s\b" % c,
                     text.split("\nCOMMANDS\n")[-1].split("\nGENERAL OPTIONS")[0],
                     re.M):
        err("COMMANDS has no entry for %s" % c)

for s in ("losetup(8)", "nbd-client(8)", "qemu-nbd(8)"):
    if s not in sections.get("SEE ALSO", {}).get("prose", set()) and \
            s not in text.split("\nSEE ALSO\n")[-1]:
        err("SEE ALSO does not name %s" % s)

if checked < 30:
    err("only %d options checked: the page or the --help texts were not "
        "parsed" % checked)
for e in errors:
    print("MISMATCH: " + e)
print("%d option entries and %d short options checked over %d commands, "
      "%d mismatches" % (checked, pairs_checked, len(cmds), len(errors)))
sys.exit(1 if errors else 0)
PY

render "$SCD" "$T/page.txt"
log "rendered: $(wc -l <"$T/page.txt") lines"
"$PY" "$T/check.py" "$T/page.txt" "$T" "${cmds[@]}" ||
	fail "the man page and the --help texts disagree (above)"

# the checker must catch an option missing from the page ...
sed '/^\*-l\*, \*--listen\* _URI_$/,/^$/d' "$SCD" >"$T/broken1.scd"
! cmp -s "$SCD" "$T/broken1.scd" || fail "self-check: could not remove --listen from a copy"
render "$T/broken1.scd" "$T/broken1.txt"
if "$PY" "$T/check.py" "$T/broken1.txt" "$T" "${cmds[@]}" >"$T/out1"; then
	fail "self-check: the checker passed a page without --listen"
fi
grep -q "lists --listen" "$T/out1" || fail "self-check: the checker did not name --listen: $(cat "$T/out1")"
log "self-check: a page without --listen fails"

# ... and an option the binary does not have
sed 's/^# LIST OPTIONS$/&\n\n*--frobnicate*\n\tNo such option.\n/' "$SCD" >"$T/broken2.scd"
render "$T/broken2.scd" "$T/broken2.txt"
if "$PY" "$T/check.py" "$T/broken2.txt" "$T" "${cmds[@]}" >"$T/out2"; then
	fail "self-check: the checker passed a page with an invented option"
fi
grep -q -- "--frobnicate is not in 'lloop list --help'" "$T/out2" ||
	fail "self-check: the checker did not name --frobnicate: $(cat "$T/out2")"
log "self-check: a page with an invented option fails"

# ... a short option that is not the binary's ...
sed 's/^\*-t\*, \*--threads\* _N_$/*-T*, *--threads* _N_/' "$SCD" >"$T/broken3.scd"
! cmp -s "$SCD" "$T/broken3.scd" || fail "self-check: could not change -t in a copy"
render "$T/broken3.scd" "$T/broken3.txt"
if "$PY" "$T/check.py" "$T/broken3.txt" "$T" "${cmds[@]}" >"$T/out3"; then
	fail "self-check: the checker passed a page that gives -T for --threads"
fi
grep -q -- "gives -t, --threads; the man page's entry for --threads has -T" "$T/out3" ||
	fail "self-check: the checker did not name -t/-T: $(cat "$T/out3")"
log "self-check: a page with -T for --threads fails"

# ... and a short option the page leaves out (-q of create, -V of lloop)
sed -e 's/^\*-q\*, \*--quiet\*$/*--quiet*/' -e 's/^\*-V\*, \*--version\*$/*--version*/' \
	"$SCD" >"$T/broken4.scd"
[ "$(diff "$SCD" "$T/broken4.scd" | grep -c '^>')" = 2 ] ||
	fail "self-check: could not drop -q and -V from a copy"
render "$T/broken4.scd" "$T/broken4.txt"
if "$PY" "$T/check.py" "$T/broken4.txt" "$T" "${cmds[@]}" >"$T/out4"; then
	fail "self-check: the checker passed a page without -q and -V"
fi
grep -q -- "gives -q, --quiet; the man page's entry for --quiet has no short option" "$T/out4" &&
	grep -q -- "'lloop --help' gives -V, --version; the man page's entry for --version has no short option" "$T/out4" ||
	fail "self-check: the checker did not name -q and -V: $(cat "$T/out4")"
log "self-check: a page without -q (create) and -V (lloop) fails"
echo "the man page documents exactly the options of every command's --help"
