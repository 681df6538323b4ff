"""The nginx.conf that deploy/school.py writes: sticky pools, failover, websockets, and every path in its run
folder; and Debian's nginx accepts it. The school itself runs in tests/browser/test_school.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
from school import Replica, nginx_conf  # noqa: E402

pytestmark = pytest.mark.fast


def replicas(*states: str) -> list[Replica]:
    return [Replica(f"r{i}", 9000 + i, state=state) for i, state in enumerate(states)]


def block(conf: str, name: str) -> str:
    return re.search(rf"upstream {name} \{{(.*?)\}}", conf, re.S).group(1)


def test_each_replica_has_a_pool_with_the_others_as_backup(tmp_path):
    conf = nginx_conf(tmp_path, "127.0.0.1:8080", replicas("up", "up", "up"))
    pool = [line.strip() for line in block(conf, "pool_r1").strip().splitlines()]
    assert pool == [
        "server 127.0.0.1:9001 max_fails=1 fail_timeout=10s;",
        "server 127.0.0.1:9000 backup;",
        "server 127.0.0.1:9002 backup;",
    ]
    assert block(conf, "pool_any").count("server ") == 3 and "backup" not in block(conf, "pool_any")
    for i in range(3):
        assert f"r{i} pool_r{i};" in conf
        assert f'"~(^|, )127[.]0[.]0[.]1:900{i}$" "attention_lab_replica=r{i}; Path=/; HttpOnly; SameSite=Lax";' in conf
    assert "default pool_any;" in conf and "proxy_pass http://$school_pool;" in conf
    assert "add_header Set-Cookie $school_cookie always;" in conf


def test_a_replica_that_is_not_up_is_down_and_backs_up_no_one(tmp_path):
    conf = nginx_conf(tmp_path, "127.0.0.1:8080", replicas("starting", "up"))
    assert "server 127.0.0.1:9000 max_fails=1 fail_timeout=10s down;" in block(conf, "pool_r0")
    assert "9000" not in block(conf, "pool_r1")
    assert "server 127.0.0.1:9000 max_fails=1 fail_timeout=10s down;" in block(conf, "pool_any")


def test_websockets_the_host_and_every_path_in_the_run_folder(tmp_path):
    conf = nginx_conf(tmp_path, "127.0.0.1:8080", replicas("up", "up"))
    for line in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Host $http_host;",
    ):
        assert line in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf and "listen 127.0.0.1:8080;" in conf
    paths = re.findall(r"(?<![\w$:/])(/[\w.-][\w./-]*)", conf)
    assert paths and all(p.startswith(str(tmp_path)) for p in paths), [
        p for p in paths if not p.startswith(str(tmp_path))
    ]
    assert "user " not in conf


def test_debian_nginx_accepts_it(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.isfile(nginx):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("nginx is not installed (.ci/run installs it)", pytrace=False)
        pytest.skip("nginx is not installed (sudo apt-get install -y nginx)")
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "tmp" / sub).mkdir(parents=True)
    user = "root" if os.geteuid() == 0 else None
    (tmp_path / "nginx.conf").write_text(nginx_conf(tmp_path, "127.0.0.1:8080", replicas("up", "starting"), user))
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_kubernetes_manifests_fit_together():
    """Read only (no cluster here): probes on the health endpoint, the Service and Ingress reach the pods,
    cookie affinity is on, and the pods may open no connection."""
    yaml = pytest.importorskip("yaml")
    path = Path(__file__).resolve().parents[1] / "deploy" / "k8s" / "attention-lab.yaml"
    docs = {d["kind"]: d for d in yaml.safe_load_all(path.read_text()) if d}
    pod = docs["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert (
        docs["Deployment"]["spec"]["selector"]["matchLabels"]
        == pod["metadata"]["labels"]
        == docs["Service"]["spec"]["selector"]
    )
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/_stcore/health", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8501}]
    notes = docs["Ingress"]["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    backend = docs["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": docs["Service"]["metadata"]["name"], "port": {"name": "http"}}
    policy = docs["NetworkPolicy"]["spec"]
    assert policy["egress"] == [] and "Egress" in policy["policyTypes"]
