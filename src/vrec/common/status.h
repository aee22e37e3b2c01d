// Status values that cross module boundaries: expected failures (bad input, missing file,
// mismatched schema) are return values that must be used; invariant violations are checks
// (check.h: VREC_CHECK in every build, assert in debug and sanitizer builds).
// A small Status/StatusOr in the shape of abseil's (Debian's abseil is built without
// std::string_view, which makes it awkward to use from C++20 code).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "vrec/common/check.h"

namespace vrec {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input: the caller must change it (HTTP 400)
  kNotFound,            // a file, user, video or version that does not exist (404)
  kAlreadyExists,       // refusing to overwrite (409)
  kFailedPrecondition,  // the system is not in a state to do it (e.g. schema mismatch) (412)
  kUnauthenticated,     // missing or bad API key (401)
  kPermissionDenied,    // a valid key without the scope the operation needs (403)
  kResourceExhausted,   // a rate limit or quota was hit: retry later (429)
  kAborted,             // a conditional write lost a race with another writer: retry (503)
  kUnavailable,         // try again later (503)
  kDataLoss,            // corrupt or truncated data
  kInternal,            // I/O errors and bugs (500)
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) = default;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPreconditionError(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status UnauthenticatedError(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status PermissionDeniedError(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status ResourceExhaustedError(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status AbortedError(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DataLossError(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or the error that prevented it. Accessing the value of an error, and making one from an
// OK status, are bugs: VREC_CHECK aborts with the error in every build.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : v_(status) { CheckNotOk(); }        // NOLINT: implicit like abseil
  StatusOr(Status&& status) : v_(std::move(status)) { CheckNotOk(); }  // NOLINT
  StatusOr(const T& value) : v_(value) {}                              // NOLINT
  StatusOr(T&& value) : v_(std::move(value)) {}                        // NOLINT
  template <typename U>
  requires(std::is_convertible_v<U&&, T> && !std::is_same_v<std::decay_t<U>, T> &&
           !std::is_same_v<std::decay_t<U>, Status>) StatusOr(U&& value)
      : v_(T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const& { return ok() ? Status() : std::get<Status>(v_); }
  Status status() && { return ok() ? Status() : std::move(std::get<Status>(v_)); }

  T& value() & { return Get(); }
  const T& value() const& { return Get(); }
  T&& value() && { return std::move(Get()); }
  T& operator*() & { return Get(); }
  const T& operator*() const& { return Get(); }
  T* operator->() { return &Get(); }
  const T* operator->() const { return &Get(); }

 private:
  void CheckNotOk() const { VREC_CHECK(!std::get<Status>(v_).ok(), "StatusOr made from an OK status"); }
  T& Get() {
    VREC_CHECK(ok(), "value() of ", std::get<Status>(v_).ToString());
    return *std::get_if<T>(&v_);
  }
  const T& Get() const {
    VREC_CHECK(ok(), "value() of ", std::get<Status>(v_).ToString());
    return *std::get_if<T>(&v_);
  }
  std::variant<Status, T> v_;
};

}  // namespace vrec

#define VREC_CONCAT_INNER_(a, b) a##b
#define VREC_CONCAT_(a, b) VREC_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define VREC_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::vrec::Status vrec_status_ = (expr);        \
    if (!vrec_status_.ok()) return vrec_status_; \
  } while (false)

// VREC_ASSIGN_OR_RETURN(auto x, MakeX()): assigns the value of a StatusOr or returns its error.
#define VREC_ASSIGN_OR_RETURN(lhs, expr) \
  VREC_ASSIGN_OR_RETURN_IMPL_(VREC_CONCAT_(vrec_statusor_, __LINE__), lhs, expr)
#define VREC_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(tmp).value()
