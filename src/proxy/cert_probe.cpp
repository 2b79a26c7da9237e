#include "tlsglass/proxy/cert_probe.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <array>
#include <cmath>
#include <vector>

#include "tlsglass/proxy/connection.hpp"
#include "tlsglass/proxy/upstream.hpp"

namespace tlsglass::proxy {

namespace {

// At most this many certificates of the chain are decoded (the wire's parser keeps as many).
constexpr int kMaxChain = 10;

std::string key_of(const trace::Endpoint& server, const std::optional<std::string>& sni) {
  return fmt::format("{}|{}|{}", server.ip, server.port, sni.value_or(""));
}

std::string openssl_error_words() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "the handshake failed";
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : fmt::format("OpenSSL error {:#x}", code);
}

}  // namespace

// The probe's TLS settings: the chain is wanted whatever is wrong with it (verification is done
// afterwards, on its own), from servers of any age. The default trust store is the system's.
struct CertificateProber::SslContext {
  SSL_CTX* ctx = nullptr;
  SslContext() {
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_min_proto_version(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
    SSL_CTX_set_default_verify_paths(ctx);
    ERR_clear_error();
  }
  ~SslContext() { SSL_CTX_free(ctx); }
  SslContext(const SslContext&) = delete;
  SslContext& operator=(const SslContext&) = delete;
};

// One probe: a socket, a timer and an OpenSSL client on memory BIOs. It deletes itself once
// both handles have closed (CertificateProber::closed), whoever finished it.
class ProbeJob {
 public:
  ProbeJob(CertificateProber& owner, std::string key, trace::Endpoint server,
           std::optional<std::string> sni)
      : owner_(owner), key_(std::move(key)), server_(std::move(server)), sni_(std::move(sni)) {}
  ~ProbeJob() {
    if (ssl_) SSL_free(ssl_);  // frees the BIOs too
  }
  ProbeJob(const ProbeJob&) = delete;
  ProbeJob& operator=(const ProbeJob&) = delete;

  void start(double timeout_s);
  void wait(std::unique_ptr<trace::Session> session) { waiting_.push_back(std::move(session)); }
  std::size_t waiting() const { return waiting_.size(); }
  void fail(std::string error);

 private:
  struct Write {
    uv_write_t request;
    std::vector<char> bytes;
  };

  void on_connect(int status);
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void advance();
  void flush();
  void succeed();
  void finish(trace::CertificateProbe probe);
  void close();

  CertificateProber& owner_;
  const std::string key_;
  const trace::Endpoint server_;
  const std::optional<std::string> sni_;
  std::vector<std::unique_ptr<trace::Session>> waiting_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_connect_t connect_{};
  int open_handles_ = 0;
  bool closing_ = false;
  bool done_ = false;
  SSL* ssl_ = nullptr;
  BIO* from_server_ = nullptr;  // owned by ssl_
  BIO* to_server_ = nullptr;
  std::size_t bytes_read_ = 0;
  std::uint64_t timeout_ms_ = 0;
  std::array<char, 16 * 1024> buffer_{};
};

void ProbeJob::start(double timeout_s) {
  uv_loop_t* loop = owner_.loop_;
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  ++open_handles_;
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
  ++open_handles_;
  timeout_ms_ = static_cast<std::uint64_t>(std::llround(std::max(timeout_s, 0.1) * 1000));
  uv_timer_start(
      &timer_,
      [](uv_timer_t* timer) {
        auto* job = static_cast<ProbeJob*>(timer->data);
        job->fail(fmt::format("no certificate within {} ms", job->timeout_ms_));
      },
      timeout_ms_, 0);

  sockaddr_storage address{};
  int status = server_.ip.find(':') != std::string::npos
                   ? uv_ip6_addr(server_.ip.c_str(), server_.port,
                                 reinterpret_cast<sockaddr_in6*>(&address))
                   : uv_ip4_addr(server_.ip.c_str(), server_.port,
                                 reinterpret_cast<sockaddr_in*>(&address));
  if (status == 0) {
    connect_.data = this;
    status = uv_tcp_connect(&connect_, &tcp_, reinterpret_cast<const sockaddr*>(&address),
                            [](uv_connect_t* request, int result) {
                              static_cast<ProbeJob*>(request->data)->on_connect(result);
                            });
  }
  if (status < 0) fail(fmt::format("connect: {}", uv_error_words(status)));
}

void ProbeJob::on_connect(int status) {
  if (done_) return;
  if (status < 0) {
    fail(fmt::format("connect: {}", uv_error_words(status)));
    return;
  }
  ssl_ = owner_.context_->ctx ? SSL_new(owner_.context_->ctx) : nullptr;
  from_server_ = BIO_new(BIO_s_mem());
  to_server_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !from_server_ || !to_server_) {
    BIO_free(from_server_);
    BIO_free(to_server_);
    from_server_ = to_server_ = nullptr;
    fail("OpenSSL could not make a client");
    return;
  }
  SSL_set_bio(ssl_, from_server_, to_server_);
  SSL_set_connect_state(ssl_);
  if (sni_) SSL_set_tlsext_host_name(ssl_, sni_->c_str());
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&tcp_),
      [](uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
        auto* job = static_cast<ProbeJob*>(handle->data);
        *buf = uv_buf_init(job->buffer_.data(), job->buffer_.size());
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        static_cast<ProbeJob*>(stream->data)->on_read(nread, buf);
      });
  advance();
}

void ProbeJob::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (done_) return;
  if (nread < 0) {
    fail(nread == UV_EOF ? "the server closed the connection during the probe's handshake"
                         : fmt::format("read: {}", uv_error_words(static_cast<int>(nread))));
    return;
  }
  bytes_read_ += static_cast<std::size_t>(nread);
  if (bytes_read_ > CertificateProber::kMaxProbeBytes) {
    fail(fmt::format("the server sent more than {} bytes without finishing the handshake",
                     CertificateProber::kMaxProbeBytes));
    return;
  }
  if (nread > 0) BIO_write(from_server_, buf->base, static_cast<int>(nread));
  advance();
}

void ProbeJob::advance() {
  const int result = SSL_do_handshake(ssl_);
  flush();
  if (done_) return;
  if (result == 1) {
    succeed();
    return;
  }
  const int error = SSL_get_error(ssl_, result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
  fail("handshake: " + openssl_error_words());
}

// What OpenSSL wants sent goes out; each write owns its bytes until libuv is done with them.
void ProbeJob::flush() {
  while (BIO_ctrl_pending(to_server_) > 0) {
    auto* write = new Write;
    write->bytes.resize(BIO_ctrl_pending(to_server_));
    const int n = BIO_read(to_server_, write->bytes.data(), static_cast<int>(write->bytes.size()));
    if (n <= 0) {
      delete write;
      return;
    }
    write->bytes.resize(static_cast<std::size_t>(n));
    write->request.data = write;
    uv_buf_t buf = uv_buf_init(write->bytes.data(), write->bytes.size());
    const int status = uv_write(&write->request, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1,
                                [](uv_write_t* request, int) {
                                  delete static_cast<Write*>(request->data);
                                });
    if (status < 0) {
      delete write;
      fail(fmt::format("write: {}", uv_error_words(status)));
      return;
    }
  }
}

void ProbeJob::succeed() {
  trace::CertificateProbe probe;
  probe.at = now();
  probe.version = static_cast<std::uint16_t>(SSL_version(ssl_));
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_))
    probe.cipher = static_cast<std::uint16_t>(SSL_CIPHER_get_protocol_id(cipher));
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_);  // client side: leaf first
  std::optional<tls::CertificateInfo> leaf;
  for (int i = 0; chain && i < sk_X509_num(chain) && i < kMaxChain; ++i) {
    unsigned char* der = nullptr;
    const int length = i2d_X509(sk_X509_value(chain, i), &der);
    if (length <= 0) continue;
    tls::CertificateInfo info =
        tls::decode_certificate(tls::Bytes(der, static_cast<std::size_t>(length)));
    OPENSSL_free(der);
    if (info.parse_failed) continue;
    probe.chain.push_back(trace::summarize_certificate(info));
    if (i == 0) leaf = std::move(info);
  }
  if (!leaf) {
    probe.error = "the server sent no certificate";
  } else {
    if (sni_) probe.covers_sni = tls::certificate_covers_host(*leaf, *sni_);
    // Trust alone: the dates are the verdict's to judge (against the probe's time).
    X509_STORE_CTX* verify = X509_STORE_CTX_new();
    if (verify && X509_STORE_CTX_init(verify, SSL_CTX_get_cert_store(owner_.context_->ctx),
                                      sk_X509_value(chain, 0), chain) == 1) {
      X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(verify), X509_V_FLAG_NO_CHECK_TIME);
      probe.trusted = X509_verify_cert(verify) == 1;
      if (!*probe.trusted)
        probe.verify_error = X509_verify_cert_error_string(X509_STORE_CTX_get_error(verify));
    }
    X509_STORE_CTX_free(verify);
  }
  ERR_clear_error();
  // A polite end: close_notify, then the close.
  SSL_shutdown(ssl_);
  flush();
  finish(std::move(probe));
}

void ProbeJob::fail(std::string error) {
  if (done_) return;
  trace::CertificateProbe probe;
  probe.at = now();
  probe.error = std::move(error);
  finish(std::move(probe));
}

void ProbeJob::finish(trace::CertificateProbe probe) {
  done_ = true;
  owner_.finished(key_, probe);
  for (auto& session : waiting_) owner_.answer(std::move(session), probe);
  waiting_.clear();
  close();
}

void ProbeJob::close() {
  if (closing_) return;
  closing_ = true;
  auto on_closed = [](uv_handle_t* handle) {
    auto* job = static_cast<ProbeJob*>(handle->data);
    if (--job->open_handles_ == 0) job->owner_.closed(job);
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_closed);
}

CertificateProber::CertificateProber(uv_loop_t* loop, double timeout_s, Emit emit,
                                     std::function<void()> on_idle)
    : loop_(loop),
      timeout_s_(timeout_s),
      emit_(std::move(emit)),
      on_idle_(std::move(on_idle)),
      context_(std::make_unique<SslContext>()) {}

CertificateProber::~CertificateProber() = default;

void CertificateProber::submit(std::unique_ptr<trace::Session> session,
                               const trace::Endpoint& server,
                               const std::optional<std::string>& sni) {
  const std::string key = key_of(server, sni);
  const std::uint64_t now_ms = uv_now(loop_);
  if (auto cached = cache_.find(key); cached != cache_.end()) {
    if (cached->second.expires_ms > now_ms) {
      answer(std::move(session), cached->second.probe);
      return;
    }
    cache_.erase(cached);
  }
  if (auto job = jobs_.find(key); job != jobs_.end()) {
    if (job->second->waiting() < kMaxWaiting) {
      job->second->wait(std::move(session));
      return;
    }
    trace::CertificateProbe skipped;
    skipped.at = now();
    skipped.error = fmt::format("not probed: {} records already wait for this server's probe",
                                kMaxWaiting);
    answer(std::move(session), skipped);
    return;
  }
  if (live_ >= kMaxJobs) {
    trace::CertificateProbe skipped;
    skipped.at = now();
    skipped.error = fmt::format("not probed: {} probes already in flight", kMaxJobs);
    answer(std::move(session), skipped);
    return;
  }
  auto* job = new ProbeJob(*this, key, server, sni);
  ++live_;
  jobs_.emplace(key, job);
  job->wait(std::move(session));
  job->start(timeout_s_);
}

void CertificateProber::cancel_all() {
  std::vector<ProbeJob*> open;
  for (auto& [key, job] : jobs_) open.push_back(job);
  for (ProbeJob* job : open) job->fail("the proxy stopped before the probe finished");
}

void CertificateProber::answer(std::unique_ptr<trace::Session> session,
                               trace::CertificateProbe probe) {
  session->on_certificate_probe(std::move(probe));
  emit_(session->record());
}

void CertificateProber::finished(const std::string& key, const trace::CertificateProbe& probe) {
  jobs_.erase(key);
  if (cache_.size() >= kMaxCached) cache_.erase(cache_.begin());
  cache_[key] = CachedAnswer{probe, uv_now(loop_) + kCacheMs};
}

void CertificateProber::closed(ProbeJob* job) {
  delete job;
  --live_;
  if (live_ == 0 && on_idle_) on_idle_();
}

}  // namespace tlsglass::proxy
