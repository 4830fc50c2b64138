impl < __Context > :: bincode :: Decode < __Context > for Consortium
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            orgs : :: bincode :: Decode :: decode(decoder) ?, nodes : ::
            bincode :: Decode :: decode(decoder) ?, retired_node_ids : ::
            bincode :: Decode :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for Consortium
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            orgs : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, nodes : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, retired_node_ids : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?,
        })
    }
}