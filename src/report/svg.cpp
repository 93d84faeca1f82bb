#include "report/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace greenbatch::report {

namespace {
constexpr double kCharWidth = 6.4;  // 11 px sans-serif, a wide average
constexpr double kTextHeight = 12;

double to_axis(const Axis& a, double v) { return a.log ? std::log10(std::max(v, 1e-300)) : v; }
}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

const std::string& palette(std::size_t i) {
  static const std::vector<std::string> colours = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                                   "#CC79A7", "#56B4E9", "#8C6D00", "#000000"};
  return colours[i % colours.size()];
}

Axis fit_axis(const std::vector<double>& values, std::string label, bool from_zero, double log_ratio) {
  Axis a;
  a.label = std::move(label);
  std::vector<double> v;
  for (double x : values) {
    if (std::isfinite(x)) v.push_back(x);
  }
  if (v.empty()) return a;
  const auto [lo_it, hi_it] = std::minmax_element(v.begin(), v.end());
  double lo = *lo_it, hi = *hi_it;
  if (lo > 0 && hi / lo > log_ratio) {
    a.log = true;
    a.min = std::pow(10, std::floor(std::log10(lo) * 10) / 10 - 0.05);
    a.max = std::pow(10, std::ceil(std::log10(hi) * 10) / 10 + 0.05);
    return a;
  }
  if (from_zero && lo > 0) lo = 0;
  if (hi == lo) {
    const double pad = hi == 0 ? 1 : std::abs(hi) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double pad = (hi - lo) * 0.08;
  a.min = (from_zero && lo == 0) ? 0 : lo - pad;
  a.max = hi + pad;
  return a;
}

std::vector<double> axis_ticks(const Axis& a) {
  std::vector<double> t;
  if (a.log) {
    const int d0 = static_cast<int>(std::floor(std::log10(a.min))), d1 = static_cast<int>(std::ceil(std::log10(a.max)));
    const bool fine = d1 - d0 <= 3;
    for (int d = d0; d <= d1; ++d) {
      for (double m : fine ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
        const double v = m * std::pow(10.0, d);
        if (v >= a.min * 0.999 && v <= a.max * 1.001) t.push_back(v);
      }
    }
    return t;
  }
  const double span = a.max - a.min;
  if (!(span > 0)) return {a.min};
  const double raw = span / 6;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  for (double v = std::ceil(a.min / step) * step; v <= a.max + step * 1e-9; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::string tick_text(double v) {
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 1e4 || a < 1e-3) return fmt::format("{:.0e}", v);
  return fmt::format("{:.4g}", v);
}

Chart::Chart(double width, double height, std::string title, Axis x, Axis y)
    : width_(width), height_(height), title_(std::move(title)), x_(std::move(x)), y_(std::move(y)) {}

void Chart::set_categories(std::vector<std::string> names) {
  categories_ = std::move(names);
  x_.log = false;
  x_.min = -0.5;
  x_.max = static_cast<double>(categories_.size()) - 0.5;
  bottom_ = 84;
}

double Chart::px(double x) const {
  const double t = (to_axis(x_, x) - to_axis(x_, x_.min)) / (to_axis(x_, x_.max) - to_axis(x_, x_.min));
  return left_ + t * (width_ - left_ - right_);
}

double Chart::py(double y) const {
  const double t = (to_axis(y_, y) - to_axis(y_, y_.min)) / (to_axis(y_, y_.max) - to_axis(y_, y_.min));
  return height_ - bottom_ - t * (height_ - top_ - bottom_);
}

void Chart::point(double x, double y, const std::string& color, const std::string& tooltip, bool hollow) {
  const double cx = px(x), cy = py(y);
  body_ += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="4" fill="{}" stroke="{}" stroke-width="1.5">)", cx, cy,
                       hollow ? "white" : color, color);
  if (!tooltip.empty()) body_ += "<title>" + xml_escape(tooltip) + "</title>";
  body_ += "</circle>\n";
  point_boxes_.push_back({cx - 4, cy - 4, cx + 4, cy + 4});
}

void Chart::label(double x, double y, const std::string& text, const std::string& color) {
  const double cx = px(x), cy = py(y);
  const double w = kCharWidth * static_cast<double>(text.size()), h = kTextHeight;
  // Candidate places (text box's left and top), nearest first, then further out.
  std::vector<std::pair<double, double>> places;
  for (double r : {1.0, 2.0, 3.0, 4.5}) {
    places.push_back({cx + 6 * r, cy - h / 2});              // right
    places.push_back({cx - 6 * r - w, cy - h / 2});          // left
    places.push_back({cx - w / 2, cy - 5 * r - h});          // above
    places.push_back({cx - w / 2, cy + 5 * r});              // below
    places.push_back({cx + 5 * r, cy - 4 * r - h});          // up right
    places.push_back({cx + 5 * r, cy + 4 * r});              // down right
    places.push_back({cx - 5 * r - w, cy - 4 * r - h});      // up left
    places.push_back({cx - 5 * r - w, cy + 4 * r});          // down left
  }
  const Box area{left_, top_, width_ - right_, height_ - bottom_};
  double best_cost = 1e300;
  Box best{};
  for (const auto& [x0, y0] : places) {
    const Box b{x0, y0, x0 + w, y0 + h};
    double cost = 0;
    if (b.x0 < area.x0 || b.x1 > area.x1 || b.y0 < area.y0 || b.y1 > area.y1) cost += 1e6;
    for (const Box& o : label_boxes_) cost += o.overlaps(b) ? 1e4 : 0;
    for (const Box& o : point_boxes_) cost += o.overlaps(b) ? 1e3 : 0;
    if (cost == 0) {
      best = b;
      best_cost = 0;
      break;
    }
    if (cost < best_cost) {
      best_cost = cost;
      best = b;
    }
  }
  const double far = std::hypot((best.x0 + best.x1) / 2 - cx, (best.y0 + best.y1) / 2 - cy);
  if (far > 24) {  // a leader line when the label had to move away
    labels_ += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="0.6"/>)", cx,
                           cy, std::clamp(cx, best.x0, best.x1), std::clamp(cy, best.y0, best.y1), color) + "\n";
  }
  labels_ += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" fill="{}" font-size="11">{}</text>)", best.x0, best.y1 - 2.5,
                         color, xml_escape(text)) + "\n";
  label_boxes_.push_back(best);
}

void Chart::error_bars(double x, double y, double x_ci, double y_ci, const std::string& color) {
  // Clipped to the frame: a wide interval runs to its edge.
  const auto cx = [&](double v) { return std::clamp(px(v), left_, width_ - right_); };
  const auto cy = [&](double v) { return std::clamp(py(v), top_, height_ - bottom_); };
  const auto floor_of = [](const Axis& a, double v, double ci) { return a.log ? std::max(v - ci, a.min) : v - ci; };
  if (y_ci > 0) {
    body_ += fmt::format(R"(<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="{3}" stroke-width="1"/>)",
                         px(x), cy(floor_of(y_, y, y_ci)), cy(y + y_ci), color) + "\n";
  }
  if (x_ci > 0) {
    body_ += fmt::format(R"(<line x1="{0:.1f}" y1="{2:.1f}" x2="{1:.1f}" y2="{2:.1f}" stroke="{3}" stroke-width="1"/>)",
                         cx(floor_of(x_, x, x_ci)), cx(x + x_ci), py(y), color) + "\n";
  }
}

void Chart::line(const std::vector<std::pair<double, double>>& xy, const std::string& color, double width,
                 const std::string& dash) {
  if (xy.empty()) return;
  std::string pts;
  for (const auto& [x, y] : xy) pts += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
  body_ += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="{}"{}/>)", pts, color, width,
                       dash.empty() ? "" : fmt::format(R"( stroke-dasharray="{}")", dash)) + "\n";
}

void Chart::hline(double y, const std::string& color, const std::string& dash) {
  body_ += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-dasharray="{}"/>)",
                       left_, py(y), width_ - right_, py(y), color, dash) + "\n";
}

void Chart::span(double x0, double x1, const std::string& color, double opacity) {
  const double a = std::max(px(x0), left_), b = std::min(px(x1), width_ - right_);
  if (b <= a) return;
  body_ += fmt::format(R"(<rect x="{:.2f}" y="{:.1f}" width="{:.2f}" height="{:.1f}" fill="{}" fill-opacity="{}"/>)", a,
                       top_, std::max(b - a, 0.6), height_ - top_ - bottom_, color, opacity) + "\n";
}

void Chart::bar(std::size_t category, std::size_t series, std::size_t of, double value, const std::string& color,
                const std::string& tooltip) {
  const double slot = 0.8 / static_cast<double>(std::max<std::size_t>(of, 1));
  const double x0 = static_cast<double>(category) - 0.4 + slot * static_cast<double>(series);
  const double base = y_.log ? y_.min : std::max(y_.min, 0.0);
  const double top = py(value), bottom = py(base);
  body_ += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">)", px(x0),
                       std::min(top, bottom), px(x0 + slot) - px(x0) - 1, std::abs(bottom - top), color);
  if (!tooltip.empty()) body_ += "<title>" + xml_escape(tooltip) + "</title>";
  body_ += "</rect>\n";
}

void Chart::legend(const std::vector<std::pair<std::string, std::string>>& entries) {
  legend_ = entries;
  if (!legend_.empty()) top_ = 54;  // a row of its own above the frame, clear of every mark
}

void Chart::note(const std::string& text) { note_ = text; }

std::string Chart::svg() const {
  std::string s = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="sans-serif" font-size="11">)",
      width_, height_);
  s += "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += fmt::format(R"(<text x="{}" y="15" font-size="13" font-weight="bold">{}</text>)", left_, xml_escape(title_)) + "\n";
  if (!note_.empty()) s += fmt::format(R"(<text x="{}" y="28" fill="#555">{}</text>)", left_, xml_escape(note_)) + "\n";
  const double x0 = left_, x1 = width_ - right_, y0 = top_, y1 = height_ - bottom_;
  // Grid and ticks.
  if (categories_.empty()) {
    for (double t : axis_ticks(x_)) {
      const double x = px(t);
      s += fmt::format(R"(<line x1="{0:.1f}" y1="{1}" x2="{0:.1f}" y2="{2}" stroke="#e5e5e5"/>)", x, y0, y1) + "\n";
      s += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", x, y1 + 14, tick_text(t)) + "\n";
    }
  } else {
    for (std::size_t i = 0; i < categories_.size(); ++i) {
      s += fmt::format(R"svg(<text x="{:.1f}" y="{}" text-anchor="end" transform="rotate(-30 {:.1f} {})">{}</text>)svg",
                       px(static_cast<double>(i)), y1 + 14, px(static_cast<double>(i)), y1 + 14,
                       xml_escape(categories_[i])) + "\n";
    }
  }
  for (double t : axis_ticks(y_)) {
    const double y = py(t);
    s += fmt::format(R"(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" stroke="#e5e5e5"/>)", x0, y, x1, y) + "\n";
    s += fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end">{}</text>)", x0 - 5, y + 4, tick_text(t)) + "\n";
  }
  s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)", x0, y0, x1 - x0, y1 - y0) + "\n";
  s += body_ + labels_;
  // Axis titles.
  if (categories_.empty()) {
    s += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", (x0 + x1) / 2, height_ - 8,
                     xml_escape(x_.label + (x_.log ? ", log scale" : ""))) + "\n";
  }
  s += fmt::format(R"svg(<text x="14" y="{0:.1f}" text-anchor="middle" transform="rotate(-90 14 {0:.1f})">{1}</text>)svg",
                   (y0 + y1) / 2, xml_escape(y_.label + (y_.log ? ", log scale" : ""))) + "\n";
  // Legend: one row above the frame, right-aligned.
  double lw = 0;
  for (const auto& [text, _] : legend_) lw += kCharWidth * static_cast<double>(text.size()) + 26;
  double lx = std::max(left_, x1 - lw);
  for (const auto& [text, color] : legend_) {
    s += fmt::format(R"(<rect x="{:.1f}" y="36" width="10" height="10" fill="{}"/>)", lx, color) + "\n";
    s += fmt::format(R"(<text x="{:.1f}" y="45">{}</text>)", lx + 14, xml_escape(text)) + "\n";
    lx += kCharWidth * static_cast<double>(text.size()) + 26;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace greenbatch::report
