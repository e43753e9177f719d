"""Scaling benchmark (issue 8): files per second for a batch, and dask throughput.

* batch: N ramp files (decay, new files) with rscd.batch.apply_files, jobs=1 vs jobs=2;
* dask: one cube, rscd.apply (the C core, all threads) vs rscd.dask on the threaded
  scheduler vs rscd.dask on a dask.distributed LocalCluster of 2 workers; and the same
  cube as a file corrected in place by rscd.apply_file (rscd.dask.apply_file, deprecated,
  is now that call)
  (blocks read and written through memory-map regions by the workers).

    python benchmarks/scale.py [--files 16] [--shape 4 10 256 256]
                               [--cube 4 10 1024 1032] [--chunks 256 1032]

Throughputs are of SCI bytes corrected (GB/s). Timing excludes writing the inputs.
"""
import argparse
import os
import sys
import tempfile
import time



HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))


def _arrays(shape, seed=0):
    from fitsfiles import ramp_arrays
    return ramp_arrays(*shape, seed=seed)


def batch(folder, nfiles, shape, ref):
    from fitsfiles import write_astropy
    from rscd.batch import apply_files
    arrays = _arrays(shape)
    paths = [write_astropy(os.path.join(folder, f"b{n:03d}_linearity.fits"), *arrays)
             for n in range(nfiles)]
    mb = os.path.getsize(paths[0]) / 1e6
    print(f"batch: {nfiles} files of {shape} ({mb:.1f} MB each), decay to new files")
    for jobs in (1, 2):
        apply_files(paths[:2], ref, jobs=jobs, overwrite=True)       # warm up the pool
        res = apply_files(paths, ref, jobs=jobs, overwrite=True)
        assert res.ok, res.table()
        print(f"  jobs={jobs}: {res.files_per_second:6.2f} files/s  ({res.seconds:.2f} s)")


def dask_cube(folder, shape, chunks, ref, method):
    import dask
    import dask.array as da
    import distributed
    import rscd
    import rscd.dask as rdask
    from fitsfiles import write_astropy
    data, gdq, pdq = _arrays(shape)
    gb = data.nbytes / 1e9
    print(f"dask: cube {shape} ({gb:.2f} GB SCI), chunks {chunks}, method {method}")

    d, g, p = data.copy(), gdq.copy(), pdq.copy()
    t = time.perf_counter()
    rscd.apply(d, g, p, ref, readpatt="FAST", subarray="FULL", method=method)
    base = time.perf_counter() - t
    print(f"  rscd.apply (in memory, C threads):      {gb / base:6.2f} GB/s ({base:.3f} s)")

    def arrays():
        return (da.from_array(data, chunks=(-1, -1) + chunks),
                da.from_array(gdq, chunks=(-1, -1) + chunks), da.from_array(pdq, chunks=chunks))

    def timed(label, **kw):
        best = None
        for _ in range(2):
            out = rdask.apply(*arrays(), ref, readpatt="FAST", subarray="FULL", method=method)
            t = time.perf_counter()
            rdask.compute(out, **kw)
            best = min(best or 1e9, time.perf_counter() - t)
        print(f"  {label:39s} {gb / best:6.2f} GB/s ({best:.3f} s)")

    timed("rscd.dask, threaded scheduler:", scheduler="threads")
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                           processes=False, dashboard_address=None,
                                           silence_logs=50)
    with cluster, distributed.Client(cluster):
        timed("rscd.dask, LocalCluster 2 thread workers:")

    path = write_astropy(os.path.join(folder, f"cube_{method}_linearity.fits"), data, gdq, pdq)
    t = time.perf_counter()
    rscd.apply_file(path, ref, inplace=True, method=method)
    single = time.perf_counter() - t
    print(f"  rscd.apply_file in place:               {gb / single:6.2f} GB/s ({single:.3f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--shape", type=int, nargs=4, default=(4, 10, 256, 256))
    parser.add_argument("--cube", type=int, nargs=4, default=(4, 10, 1024, 1032))
    parser.add_argument("--chunks", type=int, nargs=2, default=(256, 1032))
    args = parser.parse_args()
    from fitsfiles import decay_reference, flag_reference
    import rscd
    with tempfile.TemporaryDirectory() as folder:
        dref = rscd.read_reference(decay_reference(os.path.join(folder, "d.fits")))
        fref = rscd.read_reference(flag_reference(os.path.join(folder, "f.fits")))
        batch(folder, args.files, tuple(args.shape), dref)
        try:
            import distributed  # noqa: F401
        except ImportError:
            print("dask: skipped (pip install \"rscd[dask]\" distributed)")
            return
        for method, ref in (("decay", dref), ("flag", fref)):
            dask_cube(folder, tuple(args.cube), tuple(args.chunks), ref, method)


if __name__ == "__main__":
    main()
