"""Builds a varied directory tree and compares two trees entry by entry:
content, type, mode, ownership, mtime, symlink targets, hard links, xattrs
(ACLs included, as system.posix_acl_* attributes)."""
import errno
import hashlib
import os
import random
import stat
import subprocess


def make_tree(root, files=3000, seed=1, big_files=2):
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    dirs = [root]
    for i in range(files // 40):
        d = os.path.join(rng.choice(dirs), f"dir{i:04d}")
        os.makedirs(d, exist_ok=True)
        dirs.append(d)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"\n", b"kubernetes", b"volume", b"backup"]
    for i in range(files):
        d = rng.choice(dirs)
        path = os.path.join(d, f"file{i:05d}.txt")
        size = int(rng.expovariate(1 / 6000))
        if i % 3:
            data = b"".join(rng.choice(words) for _ in range(size // 5 + 1))[:size]
        else:
            data = rng.randbytes(size)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_123_456_789 + i * 1000))
        if i % 97 == 0:
            os.chmod(path, 0o4750 if i % 2 else 0o600)
        if i % 89 == 0:
            os.chown(path, 1000 + i % 7, 2000 + i % 5)
        if i % 53 == 0:
            os.setxattr(path, "user.stowage.test", f"value-{i}".encode())
    for i in range(big_files):
        with open(os.path.join(root, f"big{i}.bin"), "wb") as f:
            f.write(rng.randbytes(24 << 20))
    # sparse file with two data islands
    with open(os.path.join(root, "sparse.img"), "wb") as f:
        f.truncate(64 << 20)
        f.seek(10 << 20)
        f.write(b"island one")
        f.seek(50 << 20)
        f.write(rng.randbytes(100000))
    os.symlink("acl-file", os.path.join(root, "rel-link"))
    os.symlink("/nonexistent/target", os.path.join(root, "dangling-link"))
    os.link(os.path.join(root, "big0.bin"), os.path.join(root, "big0-hardlink"))
    os.mkfifo(os.path.join(root, "a-fifo"))
    os.mknod(os.path.join(root, "a-chardev"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
    odd = os.path.join(root, "odd name ü \t" + "x" * 10)
    os.makedirs(odd, exist_ok=True)
    with open(os.path.join(odd, b"\xff\xfe-not-utf8".decode("utf-8", "surrogateescape")), "wb") as f:
        f.write(b"bytes name")
    acl_dir = os.path.join(root, "acl-dir")
    os.makedirs(acl_dir, exist_ok=True)
    subprocess.run(["setfacl", "-m", "u:1234:rwx", "-d", "-m", "g:2345:rx", acl_dir], check=True)
    with open(os.path.join(root, "acl-file"), "w") as f:
        f.write("acl")
    subprocess.run(["setfacl", "-m", "u:4321:r", os.path.join(root, "acl-file")], check=True)
    return root


def describe_tree(root):
    """path → tuple of everything that must survive a restore."""
    out = {}
    inode_groups = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            xattrs = {}
            try:
                names = os.listxattr(path, follow_symlinks=False)
            except OSError as e:  # a filesystem without xattrs (zfs-fuse)
                if e.errno != errno.ENOTSUP:
                    raise
                names = []
            for x in names:
                xattrs[x] = os.getxattr(path, x, follow_symlinks=False)
            entry = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                     tuple(sorted(xattrs.items()))]
            if not stat.S_ISDIR(st.st_mode):
                entry.append(st.st_mtime_ns)
            if stat.S_ISLNK(st.st_mode):
                entry.append(os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                entry += [st.st_size, h.hexdigest()]
                if st.st_nlink > 1:
                    inode_groups.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                entry.append(st.st_rdev)
            out[rel] = tuple(entry)
    links = sorted(tuple(sorted(g)) for g in inode_groups.values())
    return out, links


def assert_same_tree(a, b):
    da, la = describe_tree(a)
    db, lb = describe_tree(b)
    missing = sorted(set(da) - set(db))
    extra = sorted(set(db) - set(da))
    differ = sorted(k for k in set(da) & set(db) if da[k] != db[k])
    assert not missing and not extra and not differ, (
        f"missing {missing[:5]}, extra {extra[:5]}, differ {[(k, da[k], db[k]) for k in differ[:3]]}")
    assert la == lb, f"hard link groups differ: {la} vs {lb}"
    return len(da)
