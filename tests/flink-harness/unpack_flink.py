"""Lays out a Flink distribution (bin/ conf/ lib/ opt/ plugins/) from the two PyPI archives.

usage: unpack_flink.py DOWNLOAD_DIR FLINK_HOME
apache-flink-libraries: a wheel (2.x, files under pyflink/) or an sdist (1.20.x, files under
<name>/deps/). apache-flink: a wheel whose pyflink/bin and pyflink/conf hold the scripts.
"""
import glob
import os
import sys
import tarfile
import zipfile

JAR_DIRS = ("lib", "opt", "plugins", "bin", "licenses")


def write(home, rel, data, executable):
    dst = os.path.join(home, rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "wb") as out:
        out.write(data)
    os.chmod(dst, 0o755 if executable else 0o644)


def is_script(name):
    return name.endswith(".sh") or os.path.basename(name) == "flink"


def unpack_libraries(archive, home):
    count = 0
    if archive.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                parts = name.split("/")
                if len(parts) > 2 and parts[0] == "pyflink" and parts[1] in JAR_DIRS and parts[-1]:
                    write(home, "/".join(parts[1:]), z.read(name), is_script(name))
                    count += 1
    else:
        with tarfile.open(archive) as t:
            for member in t.getmembers():
                parts = member.name.split("/")
                if member.isfile() and len(parts) > 3 and parts[1] == "deps" and parts[2] in JAR_DIRS:
                    write(home, "/".join(parts[2:]), t.extractfile(member).read(), is_script(member.name))
                    count += 1
    return count


def unpack_scripts(archive, home):
    count = 0
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == "pyflink" and parts[1] in ("bin", "conf") and parts[2]:
                write(home, "/".join(parts[1:]), z.read(name), parts[1] == "bin" and is_script(name))
                count += 1
    return count


def main():
    download, home = sys.argv[1], sys.argv[2]
    count = 0
    for archive in sorted(glob.glob(os.path.join(download, "*"))):
        base = os.path.basename(archive).replace("-", "_")
        if base.startswith("apache_flink_libraries"):
            count += unpack_libraries(archive, home)
        elif base.startswith("apache_flink_") and archive.endswith(".whl"):
            count += unpack_scripts(archive, home)
    if count == 0:
        sys.exit("no Flink archives found in " + download)
    print("unpacked %d files into %s" % (count, home), file=sys.stderr)


if __name__ == "__main__":
    main()
