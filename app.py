"""CDK entry point: `python app.py` (offline, no bundling) or `cdk deploy -c bundle=true` (docs/deploy.md)."""

from infra.app import build_app

if __name__ == "__main__":
    app, _stack = build_app()
    app.synth()
