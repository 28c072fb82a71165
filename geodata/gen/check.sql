-- Independent PostGIS check of the demo city's geometry. Load the GeoJSON
-- files into an empty PostGIS database first (table = file name):
--
--   for f in boundary towns communities cells zones facilities; do
--     ogr2ogr -f PostgreSQL "PG:dbname=..." geodata/linhai/$f.geojson -nln $f -lco GEOMETRY_NAME=geom -lco FID=fid
--   done
--   psql "dbname=..." -f geodata/gen/check.sql
--
-- Every count and area difference must be 0; the last two queries only
-- report the city's area and the spread of cell sizes.
select 'invalid geometries' as check, count(*) from (
  select geom from boundary union all select geom from towns union all select geom from communities
  union all select geom from cells union all select geom from zones) g where not st_isvalid(geom);
select 'cells: max |union - community| symdiff area / community area' as check,
  max(st_area(st_symdifference(u.g, c.geom)) / st_area(c.geom))
  from (select community_code, st_union(geom) g from cells group by community_code) u join communities c on c.code = u.community_code;
select 'cells: communities with sum(area) != area (rel > 1e-12)' as check, count(*) from (
  select c.code, abs(sum(st_area(x.geom)) - st_area(c.geom)) / st_area(c.geom) rel
  from cells x join communities c on c.code = x.community_code group by c.code, c.geom) t where rel > 1e-12;
select 'communities: max symdiff vs town' as check, max(st_area(st_symdifference(u.g, t.geom)) / st_area(t.geom))
  from (select town_code, st_union(geom) g from communities group by town_code) u join towns t on t.code = u.town_code;
select 'towns: symdiff vs boundary' as check, st_area(st_symdifference((select st_union(geom) from towns), (select geom from boundary))) / (select st_area(geom) from boundary);
select 'cells: union of all cells vs boundary' as check, st_area(st_symdifference((select st_union(geom) from cells), (select geom from boundary))) / (select st_area(geom) from boundary);
select 'cell pairs with ST_Overlaps' as check, count(*) from cells a join cells b on a.fid < b.fid and a.geom && b.geom where st_overlaps(a.geom, b.geom);
select 'cell pairs whose interiors intersect (ST_Relate T********)' as check, count(*) from cells a join cells b on a.fid < b.fid and a.geom && b.geom where st_relate(a.geom, b.geom, 'T********');
select 'community pairs whose interiors intersect' as check, count(*) from communities a join communities b on a.fid < b.fid and a.geom && b.geom where st_relate(a.geom, b.geom, 'T********');
select 'town pairs whose interiors intersect' as check, count(*) from towns a join towns b on a.fid < b.fid and a.geom && b.geom where st_relate(a.geom, b.geom, 'T********');
select 'cells not covered by their community' as check, count(*) from cells x join communities c on c.code = x.community_code where not st_coveredby(x.geom, c.geom);
select 'communities not covered by their town' as check, count(*) from communities x join towns t on t.code = x.town_code where not st_coveredby(x.geom, t.geom);
select 'zones not within the city' as check, count(*) from zones z, boundary b where not st_within(z.geom, b.geom);
select 'facilities not within the city' as check, count(*) from facilities f, boundary b where not st_within(f.geom, b.geom);
select 'facilities in no cell' as check, count(*) from facilities f where not exists (select 1 from cells c where st_intersects(c.geom, f.geom));
select 'city area km2' as check, round((st_area(geom::geography)/1e6)::numeric, 1) from boundary;
select 'cell area km2 by kind (p10,p50,p90)' as check, t.kind, percentile_cont(array[0.1,0.5,0.9]) within group (order by st_area(c.geom::geography)/1e6)
  from cells c join towns t on t.code = c.town_code group by t.kind;
