CREATE TABLE public.alembic_version (
    version_num character varying(32) NOT NULL
);
CREATE TABLE public.audit_events (
    id integer NOT NULL,
    "time" timestamp with time zone NOT NULL,
    actor character varying(255) NOT NULL,
    action character varying(64) NOT NULL,
    object text NOT NULL,
    detail json NOT NULL
);
CREATE SEQUENCE public.audit_events_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.audit_events_id_seq OWNED BY public.audit_events.id;
CREATE TABLE public.certificates (
    id integer NOT NULL,
    definition_id integer NOT NULL,
    version integer NOT NULL,
    serial character varying(64) NOT NULL,
    sha256 character varying(64) NOT NULL,
    subject text NOT NULL,
    sans json NOT NULL,
    not_before timestamp with time zone NOT NULL,
    not_after timestamp with time zone NOT NULL,
    issuer text NOT NULL,
    cert_pem text NOT NULL,
    chain_pem text NOT NULL,
    key_id character varying(32),
    state character varying(16) NOT NULL,
    created timestamp with time zone NOT NULL
);
CREATE SEQUENCE public.certificates_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.certificates_id_seq OWNED BY public.certificates.id;
CREATE TABLE public.definition_targets (
    id integer NOT NULL,
    definition_id integer NOT NULL,
    host character varying(255) NOT NULL,
    slot_id character varying(255) NOT NULL
);
CREATE SEQUENCE public.definition_targets_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.definition_targets_id_seq OWNED BY public.definition_targets.id;
CREATE TABLE public.definitions (
    id integer NOT NULL,
    name character varying(255) NOT NULL,
    cn character varying(255) NOT NULL,
    sans json NOT NULL,
    key_type character varying(16) NOT NULL,
    validity_seconds integer NOT NULL,
    issuer character varying(255),
    renew_before_seconds integer NOT NULL,
    targets json NOT NULL,
    data json NOT NULL,
    created timestamp with time zone NOT NULL,
    updated timestamp with time zone NOT NULL
);
CREATE SEQUENCE public.definitions_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.definitions_id_seq OWNED BY public.definitions.id;
CREATE TABLE public.deployment_files (
    id integer NOT NULL,
    deployment_id integer NOT NULL,
    "position" integer NOT NULL,
    path text NOT NULL,
    owner character varying(64) NOT NULL,
    "group" character varying(64) NOT NULL,
    mode integer NOT NULL,
    existed boolean NOT NULL,
    data bytea,
    key_id character varying(32)
);
CREATE SEQUENCE public.deployment_files_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.deployment_files_id_seq OWNED BY public.deployment_files.id;
CREATE TABLE public.deployments (
    id integer NOT NULL,
    definition_id integer NOT NULL,
    certificate_id integer NOT NULL,
    host character varying(255) NOT NULL,
    slot_id character varying(255) NOT NULL,
    state character varying(16) NOT NULL,
    reason text,
    started timestamp with time zone NOT NULL,
    finished timestamp with time zone,
    data json NOT NULL
);
CREATE SEQUENCE public.deployments_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.deployments_id_seq OWNED BY public.deployments.id;
CREATE TABLE public.endpoints (
    id integer NOT NULL,
    slot_id integer NOT NULL,
    address character varying(255) NOT NULL,
    port integer NOT NULL,
    tls character varying(32) NOT NULL,
    sni character varying(255)
);
CREATE SEQUENCE public.endpoints_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.endpoints_id_seq OWNED BY public.endpoints.id;
CREATE TABLE public.hosts (
    id integer NOT NULL,
    name character varying(255) NOT NULL,
    kind character varying(16) NOT NULL,
    address character varying(512),
    params json NOT NULL,
    created timestamp with time zone NOT NULL,
    updated timestamp with time zone NOT NULL
);
CREATE SEQUENCE public.hosts_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.hosts_id_seq OWNED BY public.hosts.id;
CREATE TABLE public.issuer_keys (
    id integer NOT NULL,
    issuer_id integer NOT NULL,
    role character varying(32) NOT NULL,
    key_id character varying(32) NOT NULL
);
CREATE SEQUENCE public.issuer_keys_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.issuer_keys_id_seq OWNED BY public.issuer_keys.id;
CREATE TABLE public.issuers (
    id integer NOT NULL,
    name character varying(255) NOT NULL,
    kind character varying(16) NOT NULL,
    config json NOT NULL,
    certificates_pem text NOT NULL,
    created timestamp with time zone NOT NULL,
    updated timestamp with time zone NOT NULL
);
CREATE SEQUENCE public.issuers_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.issuers_id_seq OWNED BY public.issuers.id;
CREATE TABLE public.meta (
    key character varying(64) NOT NULL,
    value json NOT NULL
);
CREATE TABLE public.observations (
    id integer NOT NULL,
    host character varying(255),
    address character varying(255) NOT NULL,
    port integer NOT NULL,
    tls character varying(32) NOT NULL,
    sni character varying(255),
    "time" timestamp with time zone NOT NULL,
    ok boolean NOT NULL,
    error text,
    chain_sha256 json NOT NULL,
    leaf_sha256 character varying(64),
    not_after timestamp with time zone,
    findings json NOT NULL
);
CREATE SEQUENCE public.observations_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.observations_id_seq OWNED BY public.observations.id;
CREATE TABLE public.private_keys (
    id character varying(32) NOT NULL,
    kind character varying(32) NOT NULL,
    algorithm character varying(32),
    public_sha256 character varying(64),
    ciphertext bytea NOT NULL,
    created timestamp with time zone NOT NULL
);
CREATE TABLE public.requests (
    id integer NOT NULL,
    definition_id integer NOT NULL,
    key_id character varying(32) NOT NULL,
    csr_pem text NOT NULL,
    public_sha256 character varying(64) NOT NULL,
    state character varying(16) NOT NULL,
    created timestamp with time zone NOT NULL,
    updated timestamp with time zone NOT NULL
);
CREATE SEQUENCE public.requests_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.requests_id_seq OWNED BY public.requests.id;
CREATE TABLE public.services (
    id integer NOT NULL,
    host_id integer NOT NULL,
    kind character varying(32) NOT NULL,
    config text NOT NULL,
    "user" character varying(64),
    data json NOT NULL
);
CREATE SEQUENCE public.services_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.services_id_seq OWNED BY public.services.id;
CREATE TABLE public.slots (
    id integer NOT NULL,
    host_id integer NOT NULL,
    service_id integer NOT NULL,
    slot_id character varying(255) NOT NULL,
    config text,
    names json NOT NULL,
    cert text,
    key text,
    chain text,
    ca text,
    keystore text,
    keystore_type character varying(16),
    data json NOT NULL
);
CREATE SEQUENCE public.slots_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.slots_id_seq OWNED BY public.slots.id;
CREATE TABLE public.users (
    id integer NOT NULL,
    name character varying(255) NOT NULL,
    role character varying(32) NOT NULL,
    password_hash character varying(255) NOT NULL,
    disabled boolean NOT NULL,
    created timestamp with time zone NOT NULL,
    updated timestamp with time zone NOT NULL
);
CREATE SEQUENCE public.users_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;
ALTER TABLE ONLY public.audit_events ALTER COLUMN id SET DEFAULT nextval('public.audit_events_id_seq'::regclass);
ALTER TABLE ONLY public.certificates ALTER COLUMN id SET DEFAULT nextval('public.certificates_id_seq'::regclass);
ALTER TABLE ONLY public.definition_targets ALTER COLUMN id SET DEFAULT nextval('public.definition_targets_id_seq'::regclass);
ALTER TABLE ONLY public.definitions ALTER COLUMN id SET DEFAULT nextval('public.definitions_id_seq'::regclass);
ALTER TABLE ONLY public.deployment_files ALTER COLUMN id SET DEFAULT nextval('public.deployment_files_id_seq'::regclass);
ALTER TABLE ONLY public.deployments ALTER COLUMN id SET DEFAULT nextval('public.deployments_id_seq'::regclass);
ALTER TABLE ONLY public.endpoints ALTER COLUMN id SET DEFAULT nextval('public.endpoints_id_seq'::regclass);
ALTER TABLE ONLY public.hosts ALTER COLUMN id SET DEFAULT nextval('public.hosts_id_seq'::regclass);
ALTER TABLE ONLY public.issuer_keys ALTER COLUMN id SET DEFAULT nextval('public.issuer_keys_id_seq'::regclass);
ALTER TABLE ONLY public.issuers ALTER COLUMN id SET DEFAULT nextval('public.issuers_id_seq'::regclass);
ALTER TABLE ONLY public.observations ALTER COLUMN id SET DEFAULT nextval('public.observations_id_seq'::regclass);
ALTER TABLE ONLY public.requests ALTER COLUMN id SET DEFAULT nextval('public.requests_id_seq'::regclass);
ALTER TABLE ONLY public.services ALTER COLUMN id SET DEFAULT nextval('public.services_id_seq'::regclass);
ALTER TABLE ONLY public.slots ALTER COLUMN id SET DEFAULT nextval('public.slots_id_seq'::regclass);
ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);
INSERT INTO public.alembic_version VALUES ('0001');
INSERT INTO public.audit_events VALUES (1, '2026-12-06 02:50:33.542053+00', 'user:root', 'master_key.create', 'repository', '{"mode": "file"}');
INSERT INTO public.audit_events VALUES (2, '2026-12-06 02:50:33.710223+00', 'user:root', 'key.store', 'key:626a4feb5add4e80bd412fcb9e989112', '{"kind": "import", "algorithm": "rsa2048"}');
INSERT INTO public.audit_events VALUES (3, '2026-12-06 02:50:33.794817+00', 'user:root', 'key.store', 'key:f0e3a7f3dd494c77b8578fa58fc311fb', '{"kind": "import", "algorithm": "rsa2048"}');
INSERT INTO public.audit_events VALUES (4, '2026-12-06 02:50:33.797191+00', 'user:root', 'key.store', 'key:c2e1858acef34d6ca4ae3cde0b53f872', '{"kind": "import", "algorithm": "ec-secp256r1"}');
INSERT INTO public.audit_events VALUES (5, '2026-12-06 02:50:33.809889+00', 'user:root', 'key.store', 'key:8dc3b08e77394ee892c8924f27fd3039', '{"kind": "import", "algorithm": "ec-secp256r1"}');
INSERT INTO public.audit_events VALUES (6, '2026-12-06 02:50:33.855251+00', 'user:root', 'discovery.save', 'host:local', '{"services": 1, "slots": 1}');
INSERT INTO public.audit_events VALUES (7, '2026-12-06 02:50:33.87377+00', 'user:root', 'key.store', 'key:d09d20b9c7f14d83a4ddc0a09bbc0470', '{"kind": "issuer", "algorithm": "ec-secp384r1"}');
INSERT INTO public.audit_events VALUES (8, '2026-12-06 02:50:33.877992+00', 'user:root', 'issuer.save', 'issuer:ca', '{"kind": "builtin", "keys": ["root"]}');
INSERT INTO public.audit_events VALUES (9, '2026-12-06 02:50:33.891412+00', 'user:root', 'definition.save', 'definition:www', '{}');
INSERT INTO public.audit_events VALUES (10, '2026-12-06 02:50:33.907166+00', 'user:root', 'key.store', 'key:acb8944c586649debb024609d3c07197', '{"kind": "request", "algorithm": "rsa2048"}');
INSERT INTO public.audit_events VALUES (11, '2026-12-06 02:50:33.91948+00', 'user:root', 'key.store', 'key:09865a66e66b434b82b44d09b9e2aa83', '{"kind": "certificate", "algorithm": "rsa2048"}');
INSERT INTO public.audit_events VALUES (12, '2026-12-06 02:50:33.927496+00', 'user:root', 'certificate.add', 'definition:www', '{"version": 1, "serial": "66a57ab6d73afd4f7f07d78a0fe881657511c95b"}');
INSERT INTO public.audit_events VALUES (13, '2026-12-06 02:50:33.944352+00', 'user:root', 'deployment.create', 'local/nginx:www', '{"definition": "www", "version": 1, "deployment": 1}');
INSERT INTO public.audit_events VALUES (14, '2026-12-06 02:50:33.963531+00', 'user:root', 'key.store', 'key:36d6938f7c284ef6aef91acd1452fa29', '{"kind": "backup-file", "algorithm": "ec-secp256r1"}');
INSERT INTO public.audit_events VALUES (15, '2026-12-06 02:50:33.976836+00', 'user:root', 'deployment.verified', 'local/nginx:www', '{"deployment": 1, "reason": null}');
INSERT INTO public.audit_events VALUES (16, '2026-12-06 02:50:34.09868+00', 'user:root', 'user.save', 'user:admin', '{"role": "admin", "disabled": false, "password_changed": true}');
INSERT INTO public.audit_events VALUES (17, '2026-12-06 02:50:34.108907+00', 'user:root', 'key.read', 'key:09865a66e66b434b82b44d09b9e2aa83', '{"kind": "certificate", "reason": "fill: audited read"}');
INSERT INTO public.certificates VALUES (1, 1, 1, '66a57ab6d73afd4f7f07d78a0fe881657511c95b', '09e09e9519d810e2dad6872b27a23cd7d44392fb745a9198783b4f57f2672779', 'CN=www.example.org', '["www.example.org", "example.org"]', '2026-12-06 02:45:33+00', '2027-03-06 02:50:33+00', 'CN=www.example.org', '-----BEGIN CERTIFICATE-----
MIIC7TCCAdWgAwIBAgIUZqV6ttc6/U9/B9eKD+iBZXURyVswDQYJKoZIhvcNAQEL
BQAwGjEYMBYGA1UEAwwPd3d3LmV4YW1wbGUub3JnMB4XDTI2MTIwNjAyNDUzM1oX
DTI3MDMwNjAyNTAzM1owGjEYMBYGA1UEAwwPd3d3LmV4YW1wbGUub3JnMIIBIjAN
BgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtgmE2qxW1ESJ6hhwIzmpsgFZB7yj
j7nN1uI3uLsQ9ZH+Eiza7J8LN2QN6VfB/kzSYJfPpJPMcnDEkwUUmiudoH2nV5ml
YiS8rgLjiephcL2xvHDNtvy9f0J/H2tA18MmXnxAFNDMM4nbYekXslCqPHiwgR82
TFcmagA7OO7Ix2W4qW+FUbOVBXGCPPfxjMk8b0R+ut2pwL0MS03895bN+zOIbXSj
VtcS+Ar5+QKYFb+pMakIgmWJl/6dpwcD6l99TXsgqseDmqe0gyuCR2EDYkjJLJp0
qioyXN74nbvda7w3pZI3jarkEMB8n+vnWbuO5Vua2SrWC/eq2PUF1Gwg8QIDAQAB
oyswKTAnBgNVHREEIDAegg93d3cuZXhhbXBsZS5vcmeCC2V4YW1wbGUub3JnMA0G
CSqGSIb3DQEBCwUAA4IBAQCHBIGlggXBpw4rpu+dXpGg+rqkGj0qBJ+xQ7aJ8B95
BL661MlrGkEVBjMedpidHcWy/0chbtKnxM4o8OXG4XbIKwzbkQrnk8iYkCKg70DH
13SuVDU+/s0KZJnVKxXKs8Q2zY3MOW0BI3DSnwdDLw+y/5sw1VVzMOdHYA9rBg4K
OU1lQps15ZZzJF2l1oa61fiLUzmho3fOEgrmcfeLSosw72idpbbADKZt1Yl3KmF5
jBp1LcWY+r5S1bTs1GpYLE4m7gNH8M7RaPi/n8Hc7Ov46N6hhLEv4rCG5nLb9Uam
SWzgsyEtKsABG/M6uEDqST6lYbZnSJNQuf0MDofcPMk2
', '-----BEGIN CERTIFICATE-----
MIIBjTCCARSgAwIBAgIUQinrFivSdcnpTBHf2yfm/epG0p4wCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHVGVzdCBDQTAeFw0yNjEyMDYwMjQ1MzNaFw0yNzAzMDYwMjUw
MzNaMBIxEDAOBgNVBAMMB1Rlc3QgQ0EwdjAQBgcqhkjOPQIBBgUrgQQAIgNiAATU
trCzff4Gm4sOeN6lOnKuK4k0IEbPOlLfynOC/LiBkFhKDicO0EutgAnN041rcSa8
7BIz3bpOR9+6B3VimIYDyyuaP9b+YxyTIkvZCbZa26JJxf43WvDZgauZVI4Fpxij
KzApMCcGA1UdEQQgMB6CD3d3dy5leGFtcGxlLm9yZ4ILZXhhbXBsZS5vcmcwCgYI
KoZIzj0EAwIDZwAwZAIvZ5c97EAPSEqaWgaeCWWTYMcb8AB6mvXixUvxd7Z2R8po
nZjBL2YA6Z7ZSm9wDtUCMQD3Kau45TyQEov9KtmEA4+C3M98UDd7YFRRraoF0E2q
P+FxqvLOjvZG3ZgblgmtBUo=
', '09865a66e66b434b82b44d09b9e2aa83', 'current', '2026-12-06 02:50:33.913928+00');
INSERT INTO public.definition_targets VALUES (1, 1, 'local', 'nginx:www');
INSERT INTO public.definitions VALUES (1, 'www', 'www.example.org', '["www.example.org"]', 'rsa2048', 7776000, 'ca', 2592000, '["nginx:www"]', '{}', '2026-12-06 02:50:33.886573+00', '2026-12-06 02:50:33.886573+00');
INSERT INTO public.deployment_files VALUES (1, 1, 0, '/etc/nginx/ssl/certs/www.crt', 'root', 'root', 420, true, '\x6f6c642063657274', NULL);
INSERT INTO public.deployment_files VALUES (2, 1, 1, '/etc/nginx/ssl/private/www.key', 'root', 'root', 384, true, NULL, '36d6938f7c284ef6aef91acd1452fa29');
INSERT INTO public.deployments VALUES (1, 1, 1, 'local', 'nginx:www', 'verified', NULL, '2026-12-06 02:50:33.942096+00', '2026-12-06 02:50:33.976812+00', '{}');
INSERT INTO public.endpoints VALUES (1, 1, '127.0.0.1', 8443, 'direct', 'www.example.org');
INSERT INTO public.hosts VALUES (2, 'web2', 'ssh', 'admin@198.18.0.2:22', '{"port": 22}', '2026-12-06 02:50:33.828441+00', '2026-12-06 02:50:33.834282+00');
INSERT INTO public.hosts VALUES (1, 'local', 'local', NULL, '{}', '2026-12-06 02:50:33.814304+00', '2026-12-06 02:50:33.855225+00');
INSERT INTO public.issuer_keys VALUES (1, 1, 'root', 'd09d20b9c7f14d83a4ddc0a09bbc0470');
INSERT INTO public.issuers VALUES (1, 'ca', 'builtin', '{"validity_days": 3650}', '-----BEGIN CERTIFICATE-----
MIIBjTCCARSgAwIBAgIUQinrFivSdcnpTBHf2yfm/epG0p4wCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHVGVzdCBDQTAeFw0yNjEyMDYwMjQ1MzNaFw0yNzAzMDYwMjUw
MzNaMBIxEDAOBgNVBAMMB1Rlc3QgQ0EwdjAQBgcqhkjOPQIBBgUrgQQAIgNiAATU
trCzff4Gm4sOeN6lOnKuK4k0IEbPOlLfynOC/LiBkFhKDicO0EutgAnN041rcSa8
7BIz3bpOR9+6B3VimIYDyyuaP9b+YxyTIkvZCbZa26JJxf43WvDZgauZVI4Fpxij
KzApMCcGA1UdEQQgMB6CD3d3dy5leGFtcGxlLm9yZ4ILZXhhbXBsZS5vcmcwCgYI
KoZIzj0EAwIDZwAwZAIvZ5c97EAPSEqaWgaeCWWTYMcb8AB6mvXixUvxd7Z2R8po
nZjBL2YA6Z7ZSm9wDtUCMQD3Kau45TyQEov9KtmEA4+C3M98UDd7YFRRraoF0E2q
P+FxqvLOjvZG3ZgblgmtBUo=
', '2026-12-06 02:50:33.870574+00', '2026-12-06 02:50:33.870574+00');
INSERT INTO public.meta VALUES ('master_key', '{"mode": "file", "check": "3452d29d67e6312291e54266bd70194372ade450b4dfbf2a0878f3d442c5f294"}');
INSERT INTO public.observations VALUES (1, NULL, '127.0.0.1', 8443, 'direct', 'www.example.org', '2026-01-01 00:00:00+00', true, NULL, '["09e09e9519d810e2dad6872b27a23cd7d44392fb745a9198783b4f57f2672779"]', '09e09e9519d810e2dad6872b27a23cd7d44392fb745a9198783b4f57f2672779', '2027-03-06 02:50:33+00', '[]');
INSERT INTO public.private_keys VALUES ('626a4feb5add4e80bd412fcb9e989112', 'import', 'rsa2048', 'ac1abeeafeaf9b771d7c46088aef180a4e4a6f49be42f72be0737db09d957266', '\x0126c4c51d9c417e7c54d2aa58826f16b56291babb3a19c4e2ebff5974e65210a64a33dd80b960fe2e55259d1a1feecf5d026587533c03c3ab3c519dbf810988a247f079e6026bce6e7fad1bf96b0aa8e009e83496228e0f6e3e8eb9d443d0341ca64d257590c98ee461f5709ccc2861ffc8788941d8d92bc98c90edf6cc9193c817f3ddbd612273bae3ceb00ecf64d5ff4febc4ef399f9e0dfd0abfb27c6aa2f658c9d7f62d507cf39da0f84258c30ac56c5a4345ea4846c3e86e57f16b7bcda43cce28d5d8254eaff177a0d36e059822a70632b8961047d08d07b2b66b60abe8509cdfb755ae769c93a9114327b1b172d5d7705f61cd0911dc488985eda46ff1693d62c4b49bf60b113a318fc514602203fe0f238262e314b02c5507b76c65d8fa1671b89114a582a64f4759319aeff0e81b39807b3eaa86dd9846024af8aa6117cc79297a105c41574ea82478413df12fd6682a104f9e3e897b8c120365eaf37ebb30ff3524da66337fd4c03fb201c721b668531d8f64987633fd8219998e8e38253e1640f90e5aece832249a0f26de426f07b6cb9595fb7743a92eac4931c4d93acc96d588478dcd336e9baa511848f3c6ab37c01dfc07951278b67e51ac8f614b8feec15bac7b260ad378303d32449a2b2c38d4dcb360f32391f5defdcde519ebb27701e3c612cd096bd47fd030c844b9776735aa8aca09274158e2a2ff275a09c82fe1f9f26f53334e41a3c9f1117e21abb2026debf607086fb930cb296a5cec69701153c43fd40012bede5aa568dfcbeb93fd4855a5d73c0ebcf9b82f2042c1cf88b7587200a36db7ba8e6b6fd9e1a5af6d9b71adc4dfe8d7883c465bf59bc4b1903e13d313ce185ff6d5fb6ef76903af987c7d6bee754dd0d7de2fd25d192c073d76021399f1c77740067494aa42b3b6ae3c3991f1674e5509fcd800a4b152b851fd93e93ebe27236f182fe96645d24ba62bd4d82c916826c9c711bea8bd4aa8f032369a3978c44f5bacf007baf4387059ca5224e544e5e66525be38053d8645b4b56f0fe83918a9ae0e5d958a938e1dd59195d9120bd426758c65070983bb85807550d83bbc1e82c5fa044f2d659a38fac414dad0300d57e09025d7b3e3acf6d6276ca64ad02f807ac6bd6442c5fa4ea1194a57a0bb9fdbb81111acb5cafd5b43d53149513c548ae306e65a7e2446c560db1d585d66d1b75e599a7b45daa7d647c7e70b1d5350e9b65b635ca9ba66caa2c6a44c31a074422deed21d28dc8669046d1e510c22d9fb50577c1f37c64c779714d5fb59d79a49d81b3101fa3ef030cc455cc58c95042bf3cc131ff6bf68f064ae35fee84f858271dec128142c4511ac6c841ca8f4e552694ecf4953e1f6327716507217ce180e8c843a3f773233c97645678d4f8029df2e4d8788c9125c00b83617412a915dfb8a02667845f232f30b56ff807623b7c0ae6099b08f3bbee985785a1a9672f629be35cf248b156c06e016453064bf5c9c64e8f3a4375f86281da292d37c6a93238619e8e88b1d548e98fab46dfc2b0a96410ef94e8e02ac1fd063ac37a82ee43d2cb301b3351a1d721529bb2c8053f169ded491d226950d39e18e37a07bf3fff4860277d04758429b1df4c63473357f987093c65957367657423c8d5cbd406d78f48c42a49f135a25cb2ea9d13e05b8237be54a689a63bbe2de3b8b8cc79480939371554693e9e371b5caf02ddecd8196521338a8306a955cbaff06d7d87c50fa855720edc7e257cdb229543dcbc0e9adbe19060989d70f0809bfc249f44fb1c55e3bbae43624ee20351eeb39396da94999c763953ee67c7dab3861bf786f97d573d8a760090a3b1e08bc221219455a748031c53c379a64476815f03f1248a3c348f4e034f9157653c970d1129effafd5a40ae2e8861bab53c382fea758f6279d7ee24e997a60714f1b7953a34953362946579f35407179982a3eb45c20c5c2bd06e98aa97cd48e397d3ecdd61a46babf8dc6afd9c3296a48b15deed0f4f9a7dbf9416a321c575b7a028ce806693b9197bc046ee9d419539da74ab9a3b63f0944d6d203f870eaad72b65abaefe129e16c40295be30cb4118a277f7eda97a586eed6d20c781ad929f1e7e71dcfc98dd02e2ea9688cced79ee0ff68ec05490263f4758379963a0ff25ebc866f5c415b60665d20177e57ffc78f5b8f9f45faacd6279912b0fe8ef5f5492779c5378f2ab4dc1061f63adde693814626335ce845252ce50e564f8177b6624bb7defe3dccde8facee241ca9d2d7a7deac568ecd584ee232286d367f4e04914c0f50349c41b23e76803adb077db28f26b3eb293d7bffb8825022bb17ae871d1e7898f9d565e92300bb96d0837edd6479e9bc857823f917b0e3efdca782e91c783e15218300efd407c6f84b9884dde593baca275c991291b09ad1bac2f5984b24', '2026-12-06 02:50:33.70062+00');
INSERT INTO public.private_keys VALUES ('f0e3a7f3dd494c77b8578fa58fc311fb', 'import', 'rsa2048', 'ac1abeeafeaf9b771d7c46088aef180a4e4a6f49be42f72be0737db09d957266', '\x017aea537612e2fb39ce8e46b953a1b1338a81b836905cc107a0ffb9df9873c30216e04fe357aae5da9060da6e0d38e53ca282b29dba64dd85ed3ce18a03e064b14752b093eaff18d3e05b06318506830dc05aa95085a5b944abc00c234f101565cd2f3d1626fe58aca06399757a2a04726cbdcd4fdc94c4e5e4aa509f34fa5136faa1dc2c6eab1ed9e8b5276d7a20c45ac2f32c65740b192bf31a8b27e44dfcd4e97b6408af9a92486fb65d6881d07c0bcc9af658b08f7baf99691e9a48d42fd5350765654fc0e273eca8b18eebc86bf2fd72ee9615c863de565b082ab3f3487077f91898a255662272c038cfc09a54bfb8b42651bccbfb00244b70520c14587ce8c00f7973c9b10db531e585cc63a8543c0f774ad8577d9080d3b4fb516b1e7c045d968a9b67244686030ae2844b4c5d5872510adba2b37de932f731a8a23b2cfaef3c4b98f39c0ad5bd720e2179d2d594b4a79689772c193b66485fc85fcdc2a54c5c1e9dfc58ce4abbdada794f59d3b6840e2b99f4ec7638a995c64c70833c495a824875d264a1b4c08fa8e83860c15916fab44062cbe273d2f0f1f7511dc7d29de336fa8c967b0e084cc67c2d3b060e05a1e4809197239bc5785435852a7ffbff0fc5d0644a91e5f07850632f70926616063760a28b865b6bb39aff60975e6a10c33126c1a2ebb168177712ab71fcb7a1d38f808471d7605c2c51d83f82f598a02c6502668b8d3db39464b96f499fa5cbf10424e3b331f112914ecb3011b19cc86ab7cc4541d80a8d3d95a59b776a1ddb586f0397104b5d329090a7aba9a8a0334d597956a5118b3e07b321825f7fa79d7eef5b7445348816a1ccf4830b0073954030f8a48e79111dd72489b32ae25e72e2dfef6a16120eefd83be74af2f8f7aa07aafc67637df5c7e8505840d80bdd2c7edb1441fc98a605d84ed1375a6f9784745ed2c48a1f4ad2207aa1c50d805d37a4415d850b1b60cac1f8163c4a65023987c46dd1299969c555a5f4a81a756555c2dd624ef329638f1833084975cd4f46a1001c669a414a82265026387b7e0bb309e86e6d0b653ac44062ed40c72c4a79219f71406937cae3132f1abfc33a6ac709290ca36d76fcd231bcfadc324a62eb70066746577df829420d1b8024cada5e6892b4b1c601bd5171c525d937d0601ac513ddcf3e6144f1a61f00c6935dc8db6ccf20812e42c5bb6c61f4450a0a6de54a671ae13fe0c7647de00c04e1ee3de6376903d803c95d6fc96a9ac5c7e5bf54434d5d47a1b48cd1929330d2d3d62f14c8811aa3c06bca818c6cc16bbe0e920ec85e5569fcf9410fa350f748caba60e72c0fcef9ed62cf23f34cbccf0440ebbeefa28fd9a19f78fbd20ce70f0776e9bff06e4cd667ee39730cf9a0a6fc269a6005a7914dd2054dc68b57d72e5b09a40749341ef09988bcce961a0e486eac23f348ce12736fa703d51771161fd441dbc4e73f6950f5023fef75386c94e1b9b1dd2c63022d82849c0de61fae2a951900b1c0f2784f47ab88f32ae0bfbb39c38763638cd3a557737f2a982180c27f45d8e9fa6b9b9bb4fc4d94a731ce1e6341b36c34f3f7c1a588d2d4196014a41cbf2a4b69f3121e65f186c6e4512c9957093f247059b74a81d5bd36c58c8dd4bbf370b566dcc207341dfe0a046c0117fb64069ffa161df675671324af676d85f76dcce998963596ae324d8b93f62631f47031d2fc', '2026-12-06 02:50:33.794214+00');
INSERT INTO public.private_keys VALUES ('c2e1858acef34d6ca4ae3cde0b53f872', 'import', 'ec-secp256r1', '7fea3d61635415e9b21bf50df5acecc93ad2477bf93b73a90db4553631f7e8a3', '\x01415775fb9bd1e8d9308800d1b9de1d6f0750178cabe644cea48fb1cdbf28729e867f5cce849d48b043548d48971382a59e2f3f66aaf8e4b0929a182bafeee78782600a2924cb2421306a87985eccab0ec6c2ee9ee006ae1105f73d97f93c49a6fef71f1f4121d47527d9b4097025b5a639acdd9c4eb9edda1cd92c4bfb587d5142245fa87332e321f742a11abab0ef4941e925e6a03ae0dbd71e81cc9a15b514e515a6b83e7112309d12f51fb86b9436c6397478ff5cf11fc363c9b1dd07b3e7cf75d0da34cc34bce8b413f02c7126e618f3be011d2754dffaabe8267c4b45318600f7f597c5814f69d411abfeab2de80558883323a8bffa2d80d1c4c3d03a', '2026-12-06 02:50:33.796673+00');
INSERT INTO public.private_keys VALUES ('8dc3b08e77394ee892c8924f27fd3039', 'import', 'ec-secp256r1', '7fea3d61635415e9b21bf50df5acecc93ad2477bf93b73a90db4553631f7e8a3', '\x01f7be61bd87ff6f5a038165dbb2cc5c0f57e16e51ba2fcd573c3f336b3332c12a482e74518f21cdcc4b974db05aec7171581de6f5afd0552301d17969795ac7a9083eb687f0cbcc553d3845f3161d22699a25899d910a5074f4f80c9e4d902d54b6231038f84d4fbd09290d4e57976952982f65d492adfb452ad9e04d18bf0175247ca1e919edf0fcca5e23df818670e689b51eb2538dc40a289d605c8735bceed4a4830331ad', '2026-12-06 02:50:33.80389+00');
INSERT INTO public.private_keys VALUES ('d09d20b9c7f14d83a4ddc0a09bbc0470', 'issuer', 'ec-secp384r1', '90cb60af484b29935c5483dd39b33d046d124976e5eef5b37e009bcf1da2c254', '\x01974061a4806b3c04524aa8405bd495e4e4c74118b62a3283ba456a1d6841d91c2e0999849bca7a20266c94e4e4711f24f619b811a5167c5884b2eb710899c426fe0917fade55b710808be2349665f3136e21a82b5707e8042f76cedf28a195e0bb7f6963bc9f16ba0da54b58f5f06d4f6ed6796ba44b39146f2d9640d84493463a409367e4bf42f692d1f88dd4da6a2ab403a30dfbc3c0a4f45a1e48a12a4640fd65c5f8ac26f9e3eac9aff63b4366bed34a222c79c0b4248a2493b9da97ca551d84ce04b27e2a106b8f0c670b0fb7b0b31b49a039', '2026-12-06 02:50:33.87222+00');
INSERT INTO public.private_keys VALUES ('acb8944c586649debb024609d3c07197', 'request', 'rsa2048', 'ac1abeeafeaf9b771d7c46088aef180a4e4a6f49be42f72be0737db09d957266', '\x01871e8bc57738fd71d28670f2db7b5a38f76842b4df151ceefa8a73e3a889150751e4f52f59b44aa45f9626131d1d8f05b4529212654f613858998c640899b96df02eeba35fd70414efbea99d6ea373f48cfd0b0ffb4493f524d4488abc509bf4e0c53e79dfbad548b7f9d9e2601c3ff047363ae7a21704bd7204c200cbe478878f0949f24639af13ab1d8d719f9a1da6135912375a850583cceb313d13936d051d2973ac61cf9d2e9c3318fa472bdde7c94f912e7f21a247c4336bcef62534c62b07016577cd25650474b7f5d25a7bb67dad71a4b5f363d2b351579d1082276f3261b909bb6021d381b77f3c530ba876b1c34133d29539d3684088cfa6079f6daaa790df551e4b7327226c853d3f9d74647803d481e226a9d2804b330fe5b960a68846692317bd8f79bc2e915e7fce893a5bc8f16af3725ec652a9cc415b1f6c6d32c9ad7b33f6bb42464afd594f808218b1793d0d75c4a42a93918ae6408ae6b8ea242be374926e0e62ccf1b2e81642bcbb550d6c049e0b65ffc0f7aa6c04eedfb03d3d2a58b4c0932eb15f91b65c725ca3ee7642e6cc26c48a3f5ad83c4660d456d0a8e66221390d73e2743884a9b3fa6b3b98f9bd2ce8b7a45e54f85ee80c0574aa942b1fc16773f8a4ba62ce829313958c00a750b1e7834c5fd70604959496921c25e5b89e6d4de61cacd7f07f5e9ad5e50dae2c8f8b714e2abeda960c1a8db72fcb159fd449e39572b5837bf160655162a71b938e128044e5baa33e67dd62097fbc893b189aa77dddb48c64c905b24a41558baf7cc1e642678d3744a1d597f704f8d56d1ff7d630546910914952c7989bd73c61ff3b77f230f708b12e96186a8dbac7959d8b3d1a368fb38bf630703593c5bf17000d72337099ef8b6f9f6a0b1a3b3a5e553a13d7ec563d011c417837eb9ef8c6dfadc74895ec2e57fd97d2c5b8c0be1f7a4cd593cff7361b7a4770756b9af394d6567cf458efac41c85301fb727e4a794900c3130d3b5b03b1dc65a723b8a657e3b503a623a2f7c2ef28b24ec6ac3be4e3f98645467f2639d6bea00ef6e028043464aeea379b197c1adfa70c91ae5093ff7ae70584161b04389778a523593438692b230e06d9602641139b255f0dd04d1d5cbf04b319721c9e7461d27142f49f7bef6e583cc19511239c853ca5f65467acc7efe3e7a0e9018efb84af9fcc9adb505705cf0f3cb1032f140a879ad70d235cdc29878ae59e45025b5233259d82cf63e808d522e4b997bfa21918ff827a749cb3ab0c7b9a8ea4607275d2b173d5ce40ae00646aa310590cf271655e8f295ac26174ccdaf6618f95d3a5e647c2411ee6e951ab3bff90511e1f38a89d11544d87ac3543991ee06d5cf37a3ea95859c88a66aeeed144bbe71dc1a9adadf826ec7cebf346e018421fcf31e4ca6e2f0acac8e6320d960c6322a0552d6a06b6446089286bf8bb64d08a95b407980c4074a964bdc2c3c12e1e283075e879ce5468eba4f2876b10705b892c51c93411710f6205c2ff54008ec8cdd6dff7fc11f155c4b443c77d7cfac1304fe2664a22288189cf549e397099b28a0e9978dc56f2d96ab84147b291d8abfea3b8f073726d2258792b8f0e133b24d702d75f71d468abdc6516961e5d0d741e05dac1be8f179b17fdd3cd0f5a8b3408f3644be257a714631ca633da3ec9bb7f579a0e4b804ff07249d5c441983969944d7457e40d79065cc8af9e5d9a004c08e9a664900c18f8a953fd9bd9565cf3', '2026-12-06 02:50:33.906508+00');
INSERT INTO public.private_keys VALUES ('09865a66e66b434b82b44d09b9e2aa83', 'certificate', 'rsa2048', 'ac1abeeafeaf9b771d7c46088aef180a4e4a6f49be42f72be0737db09d957266', '\x01f33fa96ed57063fc856f0aacdaff2f336e68ab6fbc8611d6a9ac23422f276191fb2f9f27d78dd0b292322b2f9364bdf81ca93b3f9fbbd5231ae81322473326627ad4d71f5513acb777398270a99d7faf34a80318ba5ffcddf7d72c3f454030d32f72e13e2c4857ee640e103ac267b1ec1964b32e24804206491a5babae6c9918e399643f21cc6e2e34dbf32844cd944f19e4dad5e204d5f177c1849927a9c6c48ce3cc8831d2c3f4685f255734ea2b0e405daed1c63bf4ddfd7be2a8b6dce9e8195fa540f666f6e39a5be76d8e43deac96b56890975a88d64e2ebd611ad2826a4d8b8cdec260400bd4001636fa7d2b1f7e6f7e8e249521d2f82fa5b216c56008dabcd7e0545a7cd54ed499a42518f483f01558d4a882dd48d92e02f6499562cc858e4802791b9a7ba7344d47226b20cf000995f74a3a0c1a2b9984a746095f30f57fe31f0200afae72590fa112a2f9f005a596b172a162211a10b6a028e600c6a997783c97f7340cc7727529232bcb8e23db710b5c5ad38aed813f3d0f0ed024861b3cb6248db91124d22252895e0714214be2a5e1d8f1ca4316d26042ac0acc63178d571624ace3f34b03abacd1ddadd7718cb7baf2079193ac2532e877131b6851c951d9cf9968693da9206500ea17fd8bf1db8639ea066da605c736a5cf1077b9942d7246a52f82509c0c0281d5078e4ab54646c72e819558e5e16e6dfe558a764dbfc07fd16ba5f79f5c4abe78c65dad670b3b35f2cda4c5cb8a4c8892bb9f0251a4f7b4c6b089c6f5959d19917163be4335615e0230db2d09ea1402449488ce10bca6f9e0586fdd06d50003ba4cd8a0ae083d85c598e7d82c226af9e89cbd04579ef28db5ae5fa74e68cf195d5b334c6cb05d725c19052ca947af9141a95f7ee86a642fd12b6b374ad88fd47b33a3099f49638fa4be4eaa462b4d76845fd8fe0caeae3e5ede481717e06dfb087440b1098ff81855f206452a374e02bfb364665031947a04e2750a56875d2bb14e9886b0dbb1470a2db1d9b57f00127ef2f4d014e1a6c6a90d727a13c4ce4b25563bb24a2e6937a476c9c3622465e19edb0bc21aed075d61a6e86a876aabd5d6de5815b0c4909e93da5ad430c8c32b00d2de4f61eb32656b3c068313c524cb130a7115d73fe3a8048719e1b861fcf63e37c86ea792445e64276b09c0063b0d1feb77a440e4a368da1b2a7a68b595627df63d9c34c94e1801ccb4a195166d39c81e16e13802bcb9901c7677e1b3dc459ffb86d8905fb702fe542af860e67e8138262fb7d0f9cefba683214e4a98a024902f8d9cfc6942a0882079addeb707c5bcce05c14d9d1bfe41c4504abc6be33384bb24bd6de4af3e7cbb3bd262f62e73c419fa190e5391b99d35a37a65e8e80df2a97a92fb299acf666e099ce14e84034924ccdf438e8ece41dc86df638edc85116c73a3583cf39fe7231b0eeed83170c198860bf13dd7dc7ba2f85b591744e0742e010697c29ed85ef9f38b4c5fb5b9ea6f8f0c675983961f5a11396e56bc0d2613eb76e1c20649ed908fd69c26be648796c24410f6578124ddd010ae7cdc724b3b34249c4a60eea6004be85bad6463e55dc15b5031c47259013a7828bb3ce6b0d40cec27d43f4f7e0b6e90dd92011127efbfb36484ef08a95446927d3df8a9a68e67b6744169ae8df0b81484d0601ab47ceab3c8bbb5cdd3fe3702a1c89e9c3d236e52cfc36fe3a3fe946d9d088af08f2678368bf63e092525e346202c4d', '2026-12-06 02:50:33.91893+00');
INSERT INTO public.private_keys VALUES ('36d6938f7c284ef6aef91acd1452fa29', 'backup-file', 'ec-secp256r1', '7fea3d61635415e9b21bf50df5acecc93ad2477bf93b73a90db4553631f7e8a3', '\x015fcd6741fa6d7dbc1f320612ba5174211f80291a261d022f8d546c3595dc64dd57a2338a3d60191f79269d5e8e18ff4d8f5f2482a0454175a7ef89ce45e262fea457bd756cbc47be5142c73f083f7cff6c3b1cfe521d4556d3f37f43393377e13bb73119cde679739ca6aa0a46d69eb120a336d13d2622d0ede5593c7663472840cbdcd656fe73074cee5eed5bb880cd709b1028f801ab030f795393de67ad4e71f381651dd91816010ec0d7431bc3f6dbdf3bd737501708aabf67c707f645d74c1f9d13726c04f8e254180f4f701703b61d29d8c59c3557b5262c8f6b1d6b85be0d425e29848b818e25cf03a6f4aeb8ffcd585d629d2e2173f875d700f056780a48ce92dc37bbf62fcfee03a7', '2026-12-06 02:50:33.963223+00');
INSERT INTO public.requests VALUES (1, 1, 'acb8944c586649debb024609d3c07197', '-----BEGIN CERTIFICATE REQUEST-----
MIICXzCCAUcCAQAwGjEYMBYGA1UEAwwPd3d3LmV4YW1wbGUub3JnMIIBIjANBgkq
hkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtgmE2qxW1ESJ6hhwIzmpsgFZB7yjj7nN
1uI3uLsQ9ZH+Eiza7J8LN2QN6VfB/kzSYJfPpJPMcnDEkwUUmiudoH2nV5mlYiS8
rgLjiephcL2xvHDNtvy9f0J/H2tA18MmXnxAFNDMM4nbYekXslCqPHiwgR82TFcm
agA7OO7Ix2W4qW+FUbOVBXGCPPfxjMk8b0R+ut2pwL0MS03895bN+zOIbXSjVtcS
+Ar5+QKYFb+pMakIgmWJl/6dpwcD6l99TXsgqseDmqe0gyuCR2EDYkjJLJp0qioy
XN74nbvda7w3pZI3jarkEMB8n+vnWbuO5Vua2SrWC/eq2PUF1Gwg8QIDAQABoAAw
DQYJKoZIhvcNAQELBQADggEBADGu3jRdTWdbPsViXEdbAoH3WAV2+YRU4+nFiUEq
usp+GkqUmIU292mTwGihaA/OeioD/P6CMtXAlZHgR5yeQpoaqMdWjrOsHKUvMCK5
z94h5VPmd7sbGRMKnHRI4LCpxgPyTBXoo69sHOJE6wh9lESiiwIFdi1u22EnShzj
1ORPfGr5tTYKSK8kfL2YA2R66u5QFnYe9nsJUq6CXMP8FxrMNckJLGllKKkt/Lzf
80HnK+Aw5KPRllACPEPSCIzp9MTdQLr6yj85Ggesa8DGlsGCiMFRGRtPzlIGVhXo
gjbozhhLgH3Il4qmNkOE9WKyAxHlyta4UHOodW6orfNqzKU=
', 'ac1abeeafeaf9b771d7c46088aef180a4e4a6f49be42f72be0737db09d957266', 'received', '2026-12-06 02:50:33.910031+00', '2026-12-06 02:50:33.926456+00');
INSERT INTO public.services VALUES (1, 1, 'nginx', '/etc/nginx/nginx.conf', 'root', '{}');
INSERT INTO public.slots VALUES (1, 1, 1, 'nginx:www', '/etc/nginx/sites-enabled/www', '["www.example.org"]', '/etc/nginx/ssl/certs/www.crt', '/etc/nginx/ssl/private/www.key', NULL, NULL, NULL, NULL, '{}');
INSERT INTO public.users VALUES (1, 'admin', 'admin', 'scrypt$16384$8$1$e9d0sF0T3oGsAo7VZkBxug==$OzneHIpwxgOkxRB0H9O0k7vM6rFivhDhM6X1AfKr6QE=', false, '2026-12-06 02:50:33.99653+00', '2026-12-06 02:50:33.99653+00');
SELECT pg_catalog.setval('public.audit_events_id_seq', 17, true);
SELECT pg_catalog.setval('public.certificates_id_seq', 1, true);
SELECT pg_catalog.setval('public.definition_targets_id_seq', 1, true);
SELECT pg_catalog.setval('public.definitions_id_seq', 1, true);
SELECT pg_catalog.setval('public.deployment_files_id_seq', 2, true);
SELECT pg_catalog.setval('public.deployments_id_seq', 1, true);
SELECT pg_catalog.setval('public.endpoints_id_seq', 1, true);
SELECT pg_catalog.setval('public.hosts_id_seq', 2, true);
SELECT pg_catalog.setval('public.issuer_keys_id_seq', 1, true);
SELECT pg_catalog.setval('public.issuers_id_seq', 1, true);
SELECT pg_catalog.setval('public.observations_id_seq', 1, true);
SELECT pg_catalog.setval('public.requests_id_seq', 1, true);
SELECT pg_catalog.setval('public.services_id_seq', 1, true);
SELECT pg_catalog.setval('public.slots_id_seq', 1, true);
SELECT pg_catalog.setval('public.users_id_seq', 1, true);
ALTER TABLE ONLY public.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);
ALTER TABLE ONLY public.audit_events
    ADD CONSTRAINT pk_audit_events PRIMARY KEY (id);
ALTER TABLE ONLY public.certificates
    ADD CONSTRAINT pk_certificates PRIMARY KEY (id);
ALTER TABLE ONLY public.definition_targets
    ADD CONSTRAINT pk_definition_targets PRIMARY KEY (id);
ALTER TABLE ONLY public.definitions
    ADD CONSTRAINT pk_definitions PRIMARY KEY (id);
ALTER TABLE ONLY public.deployment_files
    ADD CONSTRAINT pk_deployment_files PRIMARY KEY (id);
ALTER TABLE ONLY public.deployments
    ADD CONSTRAINT pk_deployments PRIMARY KEY (id);
ALTER TABLE ONLY public.endpoints
    ADD CONSTRAINT pk_endpoints PRIMARY KEY (id);
ALTER TABLE ONLY public.hosts
    ADD CONSTRAINT pk_hosts PRIMARY KEY (id);
ALTER TABLE ONLY public.issuer_keys
    ADD CONSTRAINT pk_issuer_keys PRIMARY KEY (id);
ALTER TABLE ONLY public.issuers
    ADD CONSTRAINT pk_issuers PRIMARY KEY (id);
ALTER TABLE ONLY public.meta
    ADD CONSTRAINT pk_meta PRIMARY KEY (key);
ALTER TABLE ONLY public.observations
    ADD CONSTRAINT pk_observations PRIMARY KEY (id);
ALTER TABLE ONLY public.private_keys
    ADD CONSTRAINT pk_private_keys PRIMARY KEY (id);
ALTER TABLE ONLY public.requests
    ADD CONSTRAINT pk_requests PRIMARY KEY (id);
ALTER TABLE ONLY public.services
    ADD CONSTRAINT pk_services PRIMARY KEY (id);
ALTER TABLE ONLY public.slots
    ADD CONSTRAINT pk_slots PRIMARY KEY (id);
ALTER TABLE ONLY public.users
    ADD CONSTRAINT pk_users PRIMARY KEY (id);
ALTER TABLE ONLY public.certificates
    ADD CONSTRAINT uq_certificates_definition_id UNIQUE (definition_id, version);
ALTER TABLE ONLY public.certificates
    ADD CONSTRAINT uq_certificates_sha256 UNIQUE (sha256);
ALTER TABLE ONLY public.definitions
    ADD CONSTRAINT uq_definitions_name UNIQUE (name);
ALTER TABLE ONLY public.hosts
    ADD CONSTRAINT uq_hosts_name UNIQUE (name);
ALTER TABLE ONLY public.issuer_keys
    ADD CONSTRAINT uq_issuer_keys_issuer_id UNIQUE (issuer_id, role);
ALTER TABLE ONLY public.issuers
    ADD CONSTRAINT uq_issuers_name UNIQUE (name);
ALTER TABLE ONLY public.slots
    ADD CONSTRAINT uq_slots_host_id UNIQUE (host_id, slot_id);
ALTER TABLE ONLY public.users
    ADD CONSTRAINT uq_users_name UNIQUE (name);
CREATE INDEX ix_audit_events_action ON public.audit_events USING btree (action);
CREATE INDEX ix_audit_events_time ON public.audit_events USING btree ("time");
CREATE INDEX ix_certificates_key_id ON public.certificates USING btree (key_id);
CREATE INDEX ix_certificates_not_after ON public.certificates USING btree (not_after);
CREATE INDEX ix_certificates_serial ON public.certificates USING btree (serial);
CREATE INDEX ix_certificates_state_not_after ON public.certificates USING btree (state, not_after);
CREATE INDEX ix_definition_targets_definition_id ON public.definition_targets USING btree (definition_id);
CREATE INDEX ix_definition_targets_host_slot ON public.definition_targets USING btree (host, slot_id);
CREATE INDEX ix_deployment_files_deployment_id ON public.deployment_files USING btree (deployment_id);
CREATE INDEX ix_deployment_files_key_id ON public.deployment_files USING btree (key_id);
CREATE INDEX ix_deployments_certificate_id ON public.deployments USING btree (certificate_id);
CREATE INDEX ix_deployments_definition_id ON public.deployments USING btree (definition_id);
CREATE INDEX ix_deployments_host_slot ON public.deployments USING btree (host, slot_id);
CREATE INDEX ix_deployments_state ON public.deployments USING btree (state);
CREATE INDEX ix_endpoints_slot_id ON public.endpoints USING btree (slot_id);
CREATE INDEX ix_issuer_keys_key_id ON public.issuer_keys USING btree (key_id);
CREATE INDEX ix_observations_endpoint ON public.observations USING btree (address, port, tls, "time");
CREATE INDEX ix_private_keys_public_sha256 ON public.private_keys USING btree (public_sha256);
CREATE INDEX ix_requests_definition_id ON public.requests USING btree (definition_id);
CREATE INDEX ix_requests_key_id ON public.requests USING btree (key_id);
CREATE INDEX ix_requests_public_sha256 ON public.requests USING btree (public_sha256);
CREATE INDEX ix_requests_state ON public.requests USING btree (state);
CREATE INDEX ix_services_host_id ON public.services USING btree (host_id);
CREATE INDEX ix_slots_service_id ON public.slots USING btree (service_id);
ALTER TABLE ONLY public.certificates
    ADD CONSTRAINT fk_certificates_definition_id_definitions FOREIGN KEY (definition_id) REFERENCES public.definitions(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.certificates
    ADD CONSTRAINT fk_certificates_key_id_private_keys FOREIGN KEY (key_id) REFERENCES public.private_keys(id);
ALTER TABLE ONLY public.definition_targets
    ADD CONSTRAINT fk_definition_targets_definition_id_definitions FOREIGN KEY (definition_id) REFERENCES public.definitions(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.deployment_files
    ADD CONSTRAINT fk_deployment_files_deployment_id_deployments FOREIGN KEY (deployment_id) REFERENCES public.deployments(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.deployment_files
    ADD CONSTRAINT fk_deployment_files_key_id_private_keys FOREIGN KEY (key_id) REFERENCES public.private_keys(id);
ALTER TABLE ONLY public.deployments
    ADD CONSTRAINT fk_deployments_certificate_id_certificates FOREIGN KEY (certificate_id) REFERENCES public.certificates(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.deployments
    ADD CONSTRAINT fk_deployments_definition_id_definitions FOREIGN KEY (definition_id) REFERENCES public.definitions(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.endpoints
    ADD CONSTRAINT fk_endpoints_slot_id_slots FOREIGN KEY (slot_id) REFERENCES public.slots(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.issuer_keys
    ADD CONSTRAINT fk_issuer_keys_issuer_id_issuers FOREIGN KEY (issuer_id) REFERENCES public.issuers(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.issuer_keys
    ADD CONSTRAINT fk_issuer_keys_key_id_private_keys FOREIGN KEY (key_id) REFERENCES public.private_keys(id);
ALTER TABLE ONLY public.requests
    ADD CONSTRAINT fk_requests_definition_id_definitions FOREIGN KEY (definition_id) REFERENCES public.definitions(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.requests
    ADD CONSTRAINT fk_requests_key_id_private_keys FOREIGN KEY (key_id) REFERENCES public.private_keys(id);
ALTER TABLE ONLY public.services
    ADD CONSTRAINT fk_services_host_id_hosts FOREIGN KEY (host_id) REFERENCES public.hosts(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.slots
    ADD CONSTRAINT fk_slots_host_id_hosts FOREIGN KEY (host_id) REFERENCES public.hosts(id) ON DELETE CASCADE;
ALTER TABLE ONLY public.slots
    ADD CONSTRAINT fk_slots_service_id_services FOREIGN KEY (service_id) REFERENCES public.services(id) ON DELETE CASCADE;
