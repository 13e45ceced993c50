#!/usr/bin/env python3
"""Writes fields-selections.txt: the -S selections recorded by gen.sh's `fields` scenario.

Each line is `<golden name> TAB <command line>`; no argument holds a space (the corpus
index splits command lines on white space). The list is derived from the scenario's
VGs (names, tags, sizes) by fixed rules, with no randomness: running this again gives
the same file. Usage: fields-selections.py > fields-selections.txt
"""

LV_OUT = "lv_name,vg_name"
VG_OUT = "vg_name"
PV_OUT = "pv_name,vg_name"

# (field, values to compare with) per report; values are as lvm2's grammar takes them.
LV_STR = {
    "lv_name": ["lin", "snap", "small", "nosuch", '"lin"', "'span'"],
    "vg_name": ["vg_f1", "vg_f2"],
    "lv_attr": ["-wi-XX----", "swi-XXs---", "owi-XXs---", "-ri-XX---k"],
    "origin": ["data", '""'],
    "segtype": ["linear", "striped"],
    "lv_allocation_policy": ["inherit", "contiguous"],
    "lv_permissions": ["writeable", "read-only", "rw", "ro", "unknown"],
    "lv_active": ['""', "active"],
    "lv_health_status": ["undefined", '""'],
    "lv_when_full": ["undefined", "error"],
    "lv_path": ["/dev/vg_f1/lin"],
    "lv_full_name": ["vg_f1/lin", "vg_f2/big"],
    "lv_dm_path": ["/dev/mapper/vg_f1-lin"],
    "pool_lv": ['""'],
    "data_lv": ['""'],
    "metadata_lv": ['""'],
    "move_pv": ['""'],
    "lv_parent": ['""'],
    "lv_profile": ['""'],
    "kernel_discards": ["undefined"],
    "cache_policy": ["undefined"],
    "seg_monitor": ["undefined", '""'],
}
LV_LIST = {
    "lv_tags": ["web", "db", "[web]", "[db,web]", "[web,db]", "{web}", "{db,web}", "[web||db]",
                "{web||nosuch}", "[]", "{}", "[nosuch]"],
    "lv_role": ["public", "[public,origin,thickorigin]", "{snapshot}", "{origin,public}",
                "[public]", "{private}"],
    "lv_layout": ["linear", "striped", "[linear]", "{striped}"],
    "lv_modules": ["snapshot", '""', "[]"],
}
LV_NUM = {
    "seg_count": ["1", "2", "3", "0"],
    "stripes": ["1", "2"],
    "seg_start_pe": ["0", "20"],
    "seg_size_pe": ["1", "4", "20"],
    "lv_major": ["-1", "undefined", "unknown", "0"],
    "lv_minor": ["-1", "undef"],
    "lv_kernel_major": ["-1", "1"],
    "lv_kernel_minor": ["-1"],
    "raid_mismatch_count": ["undefined", "0"],
    "data_copies": ["1"],
    "thin_count": ["0", "undefined"],
    "transaction_id": ["undefined"],
    "lv_ancestors": ['""'],
}
LV_SIZE = {
    "lv_size": ["8m", "12m", "12M", "12582912b", "96m", "0.01g", "4096k", "8192s", "12", "1t"],
    "chunk_size": ["0", "4k", "4096b"],
    "origin_size": ["0", "12m", "undefined"],
    "seg_size": ["4m", "80m"],
    "seg_start": ["0", "80m"],
    "stripe_size": ["0", "64k"],
    "lv_read_ahead": ["auto", "128k", "256s"],
    "lv_kernel_read_ahead": ["-1", "undefined"],
    "lv_metadata_size": ["0", "undefined"],
    "region_size": ["0"],
}
LV_PCT = {
    "data_percent": ["undefined", "0", "50%", "100"],
    "snap_percent": ["undefined", "0%"],
    "copy_percent": ["undefined"],
    "metadata_percent": ["undefined"],
}
LV_BIN = ["lv_merging", "lv_snapshot_invalid", "lv_skip_activation", "lv_fixed_minor",
          "lv_allocation_locked", "lv_active_locally", "lv_suspended", "lv_device_open",
          "lv_converting", "lv_historical", "lv_merge_failed", "lv_check_needed",
          "lv_image_synced", "lv_live_table", "lv_autoactivation", "zero"]
BIN_NAMES = {"lv_skip_activation": ["skip", "skip activation"], "lv_merging": ["merging"],
             "lv_snapshot_invalid": ["invalid"], "lv_device_open": ["open"],
             "lv_fixed_minor": ["fixed"], "lv_active_locally": ["active"]}

VG_STR = {
    "vg_name": ["vg_f1", "vg_f2"],
    "vg_attr": ["wz--n-"],
    "vg_permissions": ["writeable", "rw", "read-only"],
    "vg_allocation_policy": ["normal", "contiguous"],
    "vg_systemid": ['""'],
    "vg_lock_type": ['""'],
    "vg_fmt": ["lvm2"],
}
VG_LIST = {"vg_tags": ["prod", "[prod,vgtag1]", "{vgtag1}", "[]", "{nosuch}", "[prod||x]"]}
VG_NUM = {
    "pv_count": ["1", "2"], "lv_count": ["2", "5"], "snap_count": ["0", "1"],
    "max_lv": ["0", "10"], "max_pv": ["0"], "vg_seqno": ["1", "5"],
    "vg_extent_count": ["31", "38"], "vg_free_count": ["0", "16"],
    "vg_mda_copies": ["unmanaged", "0", "2"], "vg_missing_pv_count": ["0"],
    "vg_mda_count": ["1", "2"],
}
VG_SIZE = {"vg_size": ["152m", "31m", "100m"], "vg_free": ["0", "16m"],
           "vg_extent_size": ["4m", "1m", "1024k"], "vg_mda_size": ["1020k"],
           "vg_mda_free": ["500k"]}
VG_BIN = ["vg_extendable", "vg_exported", "vg_partial", "vg_clustered", "vg_shared",
          "vg_autoactivation"]

PV_STR = {"pv_name": ["/tmp/l2dev/a.img", "/tmp/l2dev/d.img"], "vg_name": ["vg_f1", '""'],
          "pv_attr": ["a--", "---"], "pv_fmt": ["lvm2"], "pv_device_id": ['""']}
PV_LIST = {"pv_tags": ["fast", "[fast]", "{fast}", "[]"]}
PV_NUM = {"pv_pe_count": ["0", "15", "23"], "pv_pe_alloc_count": ["0", "15"],
          "pv_mda_count": ["1"], "pv_ext_vsn": ["2"], "pv_mda_used_count": ["1"]}
PV_SIZE = {"pv_size": ["60m", "16m", "92m"], "pv_free": ["0", "16m"], "pe_start": ["1m"],
           "dev_size": ["64m", "32m"], "pv_used": ["0"], "pv_mda_size": ["1020k"],
           "pv_mda_free": ["509k"], "pv_ba_start": ["0"], "pv_ba_size": ["0"]}
PV_BIN = ["pv_allocatable", "pv_exported", "pv_missing", "pv_in_use", "pv_duplicate"]

out = []


def add(cmd, sel):
    assert " " not in sel, sel
    out.append((cmd, sel))


def lvs(sel, extra=""):
    add(f"lvs -a -o {LV_OUT}{extra}", sel)


def fields_of(cmd, strs, lists, nums, sizes, bins, pcts=None):
    out_f = {"lvs": lambda s, f: lvs(s, "," + f),
             "vgs": lambda s, f: add(f"vgs -o {VG_OUT},{f}", s),
             "pvs": lambda s, f: add(f"pvs -a -o {PV_OUT},{f}", s)}[cmd]
    for f, vals in strs.items():
        for v in vals:
            out_f(f"{f}={v}", f)
        out_f(f"{f}!={vals[0]}", f)
        out_f(f"{f}=~^{vals[0].strip(chr(34))[:2]}", f)
        out_f(f"{f}!~{vals[0].strip(chr(34))[-1:]}$", f)
    for f, vals in lists.items():
        for v in vals:
            out_f(f"{f}={v}", f)
        out_f(f"{f}!={vals[0]}", f)
        out_f(f"{f}=~{vals[0][:2]}", f)
    for table in (nums, sizes, pcts or {}):
        for f, vals in table.items():
            for i, v in enumerate(vals):
                op = ["=", ">", "<", ">=", "<=", "!="][i % 6]
                out_f(f"{f}{op}{v}", f)
            out_f(f"{f}={vals[0]}", f)
    for f in bins:
        for v in ["0", "1"] + BIN_NAMES.get(f, [])[:1]:
            out_f(f"{f}={v}", f)
        out_f(f"{f}!=1", f)


fields_of("lvs", LV_STR, LV_LIST, LV_NUM, LV_SIZE, LV_BIN, LV_PCT)
fields_of("vgs", VG_STR, VG_LIST, VG_NUM, VG_SIZE, VG_BIN)
fields_of("pvs", PV_STR, PV_LIST, PV_NUM, PV_SIZE, PV_BIN)

# Logic: conjunction, disjunction, negation, grouping, and their precedence.
for s in ["lv_size>8m&&vg_name=vg_f1", "lv_size>8m,vg_name=vg_f1", "lv_name=lin||lv_name=big",
          "lv_name=lin#lv_name=big", "!lv_name=lin", "!(lv_name=lin||lv_name=str)",
          "(lv_name=lin||lv_name=str)&&lv_size>12m", "lv_name=lin||lv_name=str&&lv_size>12m",
          "lv_name=lin&&lv_size>12m||lv_name=big", "!!lv_name=lin", "!(!(lv_name=lin))",
          "((lv_name=lin))", "vg_name=vg_f2&&!lv_tags=[]", "lv_tags=web&&!lv_tags=db",
          "seg_count>1||origin=data", "lv_attr=~^s||lv_attr=~^o", "lv_name=~'^s'&&stripes=1",
          "lv_name=~n$", "lv_name!~^(lin|str)$", "lv_name=~.*", "lv_name=~[sp]a",
          "vg_name=vg_f1&&(lv_tags={web}||lv_size<=4m)", "lv_uuid=~^[A-Za-z0-9-]+$",
          "lv_host=~.", "lv_time>2000-01-01", "lv_time<2000-01-01", "lv_time>=1970-01-02",
          "lv_time_removed=0", "lv_time=~2", "!(lv_name=lin)", "!(!(lv_name=lin))",
          "vg_name=vg_f2&&!(lv_tags=[])", "lv_tags=web&&!(lv_tags=db)", "!(lv_size>8m)||lv_name=lin",
          "lv_name!~'^(lin|str)$'", "lv_name=~\"[sp]a\"", "lv_uuid=~'^[A-Za-z0-9-]+$'",
          "lv_name=~^s&&!(lv_name=~p$)", "lv_size>8m&&lv_size<=24m", "lv_size>8.5m", "lv_size>=0.5g",
          "lv_size<12.00001m", "lv_size=12.0m", "chunk_size=4k||seg_count=2", "lv_read_ahead=128k",
          "lv_tags=[db]", "lv_tags={db}", "lv_tags=[web,db,x]", "lv_tags={web,db,x}",
          "lv_tags=[db&&web]", "lv_tags={db&&web}", "lv_tags={web#db}", "lv_tags=[db]||lv_tags=[web]",
          "lv_role={public,snapshot}", "lv_role=[public,snapshot,thicksnapshot]", "lv_name={lin}",
          "lv_name=lin,vg_name=vg_f1", "vg_name=vg_f1#vg_name=vg_f2", "lv_name='lin'", "lv_name=\"\"",
          "lv_attr=~X", "lv_attr!~^-", "lv_name!=lin&&lv_name!=str&&vg_name=vg_f1",
          ]:
    lvs(s)
for s in ["vg_size>100m&&lv_count>2", "vg_tags=prod||vg_free=0", "!vg_tags=prod",
          "(vg_name=vg_f1)", "vg_name=~^vg_f[12]$"]:
    add(f"vgs -o {VG_OUT}", s)
for s in ["vg_name=vg_f1&&pv_tags=fast", "pv_free>0||pv_tags=[]", "!(vg_name=\"\")", "!(pv_tags=fast)", "pv_size>20m&&pv_free>0",
          "pv_mda_free>=100k", "dev_size>=64m", "pv_name=~d[.]img$", "pv_name=~'d.img$'"]:
    add(f"pvs -a -o {PV_OUT}", s)
# Segment reports select segments.
for s in ["seg_size_pe>3", "segtype=striped", "seg_start_pe>0"]:
    add("lvs -a --segments -o lv_name,seg_start_pe,seg_size_pe", s)
# JSON and selection together; the `selected` field without filtering.
add("lvs -a --reportformat json -o lv_name,lv_size", "lv_size>=12m")
add("vgs --reportformat json -o vg_name", "vg_name=nosuch")
# Errors: unknown fields, bad operators and values, unbalanced grouping.
for s in ["nosuch=1", "lv_size=abc", "lv_size=~1", "seg_count=1x", "lv_name<lin",
          "(lv_name=lin", "lv_name=lin)", "lv_name=", "=lin", "lv_name", "lv_name=lin&&",
          "lv_name=lin||", "!", "lv_tags=[web", "lv_tags=[web,db}", "lv_tags=[web,db||x]",
          "lv_name=[lin]", "lv_name=~[", "lv_size>8x", "data_percent>abc", "lv_merging=2",
          "lv_merging=maybe", "lv_time>garbage", "lv_size=-1", "seg_count=-2", "lv_name=\"lin",
          "lv_name==lin", "lv_name=lin&&&&lv_size>0", "()", "vg_mda_copies=managed",
          "lv_permissions=bad", "pv_name=x"]:
    lvs(s)
add("pvs -a -o pv_name", "lv_name=lin")
add("vgs -o vg_name", "lv_name=lin")
add("vgs -o vg_name", "pv_name=x")

for i, (cmd, sel) in enumerate(out, 1):
    print(f"sel-{i:03d}\t{cmd} -S {sel}")
