#pragma once
// A small SVG chart writer for the report: axes with units and ticks (linear or log), points
// with labels placed so that they do not overlap, error bars, lines, shaded spans, grouped bars
// and a legend. Output is well-formed XML (the report embeds it inline).
#include <optional>
#include <string>
#include <vector>

namespace greenbatch::report {

std::string xml_escape(const std::string& s);

struct Axis {
  double min = 0, max = 1;
  bool log = false;
  std::string label;  // with its unit, e.g. "maximum latency (s)"
};

// An axis that holds every value with a margin: logarithmic when all values are positive and
// span more than `log_ratio` (max/min), else linear (from zero when `from_zero`).
Axis fit_axis(const std::vector<double>& values, std::string label, bool from_zero = false, double log_ratio = 30);

// Tick positions: 1-2-5 steps on a linear axis; decades (and 2, 5 within few decades) on a log axis.
std::vector<double> axis_ticks(const Axis& a);
std::string tick_text(double v);

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

class Chart {
 public:
  Chart(double width, double height, std::string title, Axis x, Axis y);
  // Categorical x axis (grouped bars): categories at 0, 1, ...; overrides the x axis.
  void set_categories(std::vector<std::string> names);

  void point(double x, double y, const std::string& color, const std::string& tooltip = "", bool hollow = false);
  // A text label beside the point at (x, y): the first free place around it, never over
  // another label or a point.
  void label(double x, double y, const std::string& text, const std::string& color);
  void error_bars(double x, double y, double x_ci, double y_ci, const std::string& color);
  void line(const std::vector<std::pair<double, double>>& xy, const std::string& color, double width = 1.5,
            const std::string& dash = "");
  void hline(double y, const std::string& color, const std::string& dash = "4 3");
  void span(double x0, double x1, const std::string& color, double opacity);
  // Bars of series `series` of `of` in category `category`.
  void bar(std::size_t category, std::size_t series, std::size_t of, double value, const std::string& color,
           const std::string& tooltip = "");
  // (text, colour) pairs in a row above the frame; call it before adding any mark.
  void legend(const std::vector<std::pair<std::string, std::string>>& entries);
  void note(const std::string& text);  // a line under the title

  std::string svg() const;
  const std::vector<Box>& label_boxes() const { return label_boxes_; }
  double px(double x) const;
  double py(double y) const;

 private:
  double width_, height_;
  double left_ = 62, right_ = 14, top_ = 34, bottom_ = 46;
  std::string title_, note_;
  Axis x_, y_;
  std::vector<std::string> categories_;
  std::vector<std::pair<std::string, std::string>> legend_;
  std::string body_, labels_;
  std::vector<Box> point_boxes_, label_boxes_;
};

// Colours that stay apart for colour-blind readers (Okabe and Ito), by index.
const std::string& palette(std::size_t i);

}  // namespace greenbatch::report
