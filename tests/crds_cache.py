"""A fake, offline CRDS cache (ECOSYSTEM notes: config/jwst/server_config, a pmap -> imap ->
rmap chain whose headers have derived_from, the reference under references/jwst/miri/, and
CRDS_IGNORE_MAPPING_CHECKSUM=1): RSCD lookups for MIRIMAGE after 2020-01-01 answer
REF_NAME, with no server. Used by test_crds.py, test_step.py and test_jwst_suite.py."""
import os

REF_NAME = "jwst_miri_rscd_0001.fits"

SERVER_CONFIG = repr({
    "observatory": "jwst", "operational_context": "jwst_0001.pmap",
    "edit_context": "jwst_0001.pmap", "bad_files": "", "bad_files_list": [],
    "force_remote_mode": False, "last_synced": "2024-01-01 00:00:00",
    "reference_url": {}, "mapping_url": {}})

PMAP = """header = {
    'derived_from' : 'made by the rscd tests',
    'mapping' : 'PIPELINE',
    'name' : 'jwst_0001.pmap',
    'observatory' : 'JWST',
    'parkey' : ('META.INSTRUMENT.NAME',),
}

selector = {
    'MIRI' : 'jwst_miri_0001.imap',
}
"""

IMAP = """header = {
    'derived_from' : 'made by the rscd tests',
    'instrument' : 'MIRI',
    'mapping' : 'INSTRUMENT',
    'name' : 'jwst_miri_0001.imap',
    'observatory' : 'JWST',
    'parkey' : ('REFTYPE',),
}

selector = {
    'rscd' : 'jwst_miri_rscd_0001.rmap',
}
"""

RMAP = """header = {
    'classes' : ('Match', 'UseAfter'),
    'derived_from' : 'made by the rscd tests',
    'filekind' : 'RSCD',
    'instrument' : 'MIRI',
    'mapping' : 'REFERENCE',
    'name' : 'jwst_miri_rscd_0001.rmap',
    'observatory' : 'JWST',
    'parkey' : (('META.INSTRUMENT.DETECTOR',), ('META.OBSERVATION.DATE', 'META.OBSERVATION.TIME')),
}

selector = Match({
    'MIRIMAGE' : UseAfter({
        '2020-01-01 00:00:00' : '%s',
    }),
})
""" % REF_NAME


def write_server_config(cache):
    """Only config/jwst/server_config: enough for stpipe with override_rscd."""
    config = os.path.join(cache, "config", "jwst")
    os.makedirs(config, exist_ok=True)
    with open(os.path.join(config, "server_config"), "w") as f:
        f.write(SERVER_CONFIG)


def build_cache(cache, write_reference):
    """The complete cache in folder ``cache``; ``write_reference(path)`` writes the RSCD
    reference file CRDS will answer. Returns that file's path."""
    write_server_config(cache)
    mappings = os.path.join(cache, "mappings", "jwst")
    os.makedirs(mappings, exist_ok=True)
    for name, text in (("jwst_0001.pmap", PMAP), ("jwst_miri_0001.imap", IMAP),
                       ("jwst_miri_rscd_0001.rmap", RMAP)):
        with open(os.path.join(mappings, name), "w") as f:
            f.write(text)
    refs = os.path.join(cache, "references", "jwst", "miri")
    os.makedirs(refs, exist_ok=True)
    path = os.path.join(refs, REF_NAME)
    write_reference(path)
    return path


def offline_environment(cache):
    """Environment variables that make CRDS and stpipe use ``cache`` and no server:
    {name: value}, value None for a variable to remove."""
    return {"CRDS_PATH": str(cache), "CRDS_IGNORE_MAPPING_CHECKSUM": "1",
            "STPIPE_DISABLE_CRDS_STEPPARS": "True", "CRDS_SERVER_URL": None,
            "CRDS_CONTEXT": None}
